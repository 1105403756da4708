/** The automation rule builder's form and the API body it becomes (scoring `RuleSchema`). */

export interface RuleDraft {
  name: string; description: string;
  triggerType: string; toStage: string; eventTypes: string; minDelta: string; event: string; hours: string; everyMinutes: string;
  actionType: string; stage: string; tags: string; ownerId: string; title: string; message: string; templateId: string; campaignId: string;
  priority: string; blocking: boolean; mode: string;
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

/** Only the keys each trigger/action type needs are sent, since the API refuses unknown ones. */
export function buildRule(d: RuleDraft, criteria: unknown): Record<string, unknown> {
  const trigger: Record<string, unknown> = { type: d.triggerType };
  if (d.triggerType === "stage_change" && d.toStage) trigger.to = d.toStage;
  if (d.triggerType === "score_change" && d.minDelta) trigger.min_delta = Number(d.minDelta);
  if (d.triggerType === "event") trigger.event_types = list(d.eventTypes);
  if (d.triggerType === "time_since_event") { trigger.event = d.event; trigger.hours = Number(d.hours); }
  if (d.triggerType === "schedule") trigger.every_minutes = Number(d.everyMinutes);
  const action: Record<string, unknown> = { type: d.actionType };
  if (d.actionType === "set_stage") action.stage = d.stage;
  if (d.actionType === "add_tag" || d.actionType === "remove_tag") action.tags = list(d.tags);
  if (d.actionType === "assign_owner") action.owner_id = d.ownerId;
  if (d.actionType === "create_follow_up") action.title = d.title;
  if (d.actionType === "notify_owner") action.message = d.message;
  if (d.actionType === "send_template_email") action.template_id = d.templateId;
  if (d.actionType === "enroll_campaign") action.campaign_id = d.campaignId;
  const body: Record<string, unknown> = {
    name: d.name.trim(), description: d.description, trigger, actions: [action],
    priority: Number(d.priority) || 5, blocking: d.blocking, mode: { type: d.mode },
  };
  if (criteria) body.criteria = criteria;
  return body;
}
