/** Layout (header, navigation) and the routes; every route except /login needs a signed-in user. */
import { useState } from "react";
import { Navigate, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { useAuth } from "./auth";
import { navFor } from "./lib/permissions";
import { LoginPage } from "./pages/Login";
import { ContactsPage } from "./pages/Contacts";
import { ContactFormPage } from "./pages/ContactForm";
import { ContactDetailPage } from "./pages/ContactDetail";
import { ImportWizard } from "./pages/ImportWizard";
import { SegmentsPage } from "./pages/Segments";
import { CampaignsPage } from "./pages/Campaigns";
import { TemplatesPage } from "./pages/Templates";
import { FollowUpsPage } from "./pages/FollowUps";
import { ScoringPage } from "./pages/Scoring";
import { DashboardPage } from "./pages/Dashboard";

const ROLE_LABEL: Record<string, string> = { admin: "Admin", marketing: "Marketing", sales: "Sales", executive: "Executive" };

export function App() {
  const { user, logout } = useAuth();
  const location = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  if (!user) {
    if (location.pathname !== "/login") {
      return <Navigate to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
    }
    return <LoginPage />;
  }
  return (
    <div className="app">
      <a href="#main" className="skip-link">Skip to content</a>
      <header className="topbar">
        <div className="brand">◆ CRM</div>
        <button type="button" className="menu-btn" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((o) => !o)}>
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? "open" : ""}>
          {navFor(user).map((n) => (
            <NavLink key={n.to} to={n.to} onClick={() => setMenuOpen(false)}>{n.label}</NavLink>
          ))}
        </nav>
        <div className="who">
          <span className="who-name">{user.name}</span>
          <span className="role-badge" data-testid="role-badge">{ROLE_LABEL[user.role] ?? user.role}</span>
          <button type="button" className="btn-link" onClick={logout}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Routes>
          <Route path="/login" element={<Navigate to={new URLSearchParams(location.search).get("next") || (user.role === "executive" ? "/dashboard" : "/contacts")} replace />} />
          <Route path="/" element={<Navigate to={user.role === "executive" ? "/dashboard" : "/contacts"} replace />} />
          <Route path="/contacts" element={<ContactsPage />} />
          <Route path="/contacts/new" element={<ContactFormPage />} />
          <Route path="/contacts/:id/edit" element={<ContactFormPage />} />
          <Route path="/contacts/:id" element={<ContactDetailPage />} />
          <Route path="/import" element={<ImportWizard />} />
          <Route path="/segments" element={<SegmentsPage />} />
          <Route path="/campaigns" element={<CampaignsPage />} />
          <Route path="/templates" element={<TemplatesPage />} />
          <Route path="/follow-ups" element={<FollowUpsPage />} />
          <Route path="/dashboard" element={<DashboardPage />} />
          <Route path="/scoring" element={<ScoringPage />} />
          <Route path="*" element={<div className="page"><h1>Page not found</h1><NavLink to="/contacts">Back to Contacts</NavLink></div>} />
        </Routes>
      </main>
    </div>
  );
}
