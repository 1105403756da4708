"""RELIABILITY E4 for campaign steps: the (campaign step, contact) send is claimed under a UNIQUE key.

The existing tests cover a bulk send's claim and its retry with the same key; this one queues the
same campaign step for the same contact again (a repeated or redelivered tick, lost progress) and
checks that there is still one email row, so it can be sent only once.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from messaging import campaigns, sending
from messaging.models import Campaign, CampaignStep, Email
from messaging.rules import utcnow
from services.messaging.tests.integration.test_limits import contact, enrollment_of, queued_step


def test_a_campaign_step_is_claimed_once_per_contact_however_often_it_is_queued(db_session):
    ann = contact()
    campaign = queued_step(db_session, ann)
    stored = db_session.get(Campaign, campaign["id"])
    step = db_session.execute(sa.select(CampaignStep).where(CampaignStep.campaign_id == campaign["id"])
                              .order_by(CampaignStep.position)).scalars().first()
    assert sending.enqueue_campaign_step(db_session, stored, step, ann["id"]) is False   # claimed before
    enrollment = enrollment_of(db_session, campaign, ann)
    enrollment.steps_done, enrollment.next_due_at = 0, utcnow() - timedelta(hours=1)   # progress "lost"
    db_session.flush()
    campaigns.run_due_steps(db_session)
    rows = db_session.execute(sa.select(Email.send_key).where(Email.campaign_id == campaign["id"])).scalars().all()
    assert rows == [f"campaign:{campaign['id']}:{step.id}:{ann['id']}"]
    with pytest.raises(sa.exc.IntegrityError), db_session.begin_nested():          # the key is UNIQUE in the DB
        db_session.execute(sa.insert(Email).values(
            id=f"dup-{step.id}"[:36], contact_id=ann["id"], direction="outbound", status="queued",
            send_key=rows[0], subject="", body="", links=[], clicked_links=[]))
