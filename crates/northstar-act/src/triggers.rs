//! Triggers: which actions a customer's snapshot causes. Pure: the caller stores the actions in
//! its outbox (in the same transaction as the snapshot) and delivers them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::config::{ActionType, Trigger, TriggerOn};
use crate::expr::ExprError;
use crate::fields::Fields;
use crate::segments::CompiledConfig;

/// A usage event of the customer, as seen by event triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerEvent {
    /// Event name, such as `limit_hit`.
    pub name: String,
    /// When it happened: an RFC 3339 UTC timestamp (`2024-03-01T10:00:00Z`) or a date. Events
    /// are ordered by this text, so pass one format (UTC) throughout.
    pub timestamp: String,
    /// The user who did it.
    pub user_id: String,
    /// The feature it concerns, if any.
    pub feature: Option<String>,
    /// Anything else (JSON), visible to conditions as `event.data`.
    pub data: serde_json::Value,
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// A task for the customer-success team.
    Task,
    /// A signed HTTP POST of [`Action::body`].
    Webhook {
        /// Where to POST.
        url: String,
        /// Name of the environment variable holding the signing secret.
        secret_env: String,
        /// Attempts before the action is marked dead.
        max_attempts: u32,
    },
}

/// One action caused by one trigger for one customer on one as-of date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// [`idempotency_key`]: `"{trigger}:{customer_id}:{as_of}"`.
    pub idempotency_key: String,
    /// Trigger name.
    pub trigger: String,
    /// The customer.
    pub customer_id: String,
    /// The snapshot's as-of date.
    pub as_of: NaiveDate,
    /// Task or webhook.
    pub kind: ActionKind,
    /// The exact JSON body (what a webhook POSTs and signs; stored with tasks too):
    /// `{"idempotency_key":..,"trigger":..,"customer_id":..,"as_of":"YYYY-MM-DD","segment":..,
    /// "segment_before":..,"health":..,"tier":..,"clv":..,"p_alive":..,"event":{..}|null}`,
    /// keys in that order, null where a value is missing. `event` is
    /// `{"name","timestamp","user_id","feature","data"}` for event triggers, else null.
    pub body: String,
}

/// The idempotency key of an action: `"{trigger}:{customer_id}:{as_of}"` with the date as
/// `YYYY-MM-DD`. Trigger names cannot contain `:` and the date has a fixed form, so the key
/// splits back unambiguously at its first and last `:` even when the customer id has colons.
///
/// ```
/// use chrono::NaiveDate;
/// let d = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
/// assert_eq!(northstar_act::idempotency_key("cs-task-on-risk", "acme:eu", d),
///            "cs-task-on-risk:acme:eu:2024-03-31");
/// ```
pub fn idempotency_key(trigger: &str, customer_id: &str, as_of: NaiveDate) -> String {
    format!("{trigger}:{customer_id}:{}", as_of.format("%Y-%m-%d"))
}

#[derive(Serialize)]
struct Body<'a> {
    idempotency_key: &'a str,
    trigger: &'a str,
    customer_id: &'a str,
    as_of: String,
    segment: Option<&'a str>,
    segment_before: Option<&'a str>,
    health: Option<f64>,
    tier: Option<&'a str>,
    clv: Option<f64>,
    p_alive: Option<f64>,
    event: Option<EventBody<'a>>,
}

#[derive(Serialize)]
struct EventBody<'a> {
    name: &'a str,
    timestamp: &'a str,
    user_id: &'a str,
    feature: Option<&'a str>,
    data: &'a serde_json::Value,
}

impl CompiledConfig {
    /// The actions one customer's snapshot causes, in trigger order, at most one per trigger.
    ///
    /// * `fields` are the customer's fields in this snapshot, including `segment`,
    ///   `segment_before` (null on the first snapshot), `health`, `tier`, `clv`, `p_alive`.
    /// * `events` are the customer's usage events after the previous refresh's as-of date, up
    ///   to and including `as_of` (the caller selects them), in any order.
    ///
    /// Firing rules: `segment_entered` fires when `segment` differs from `segment_before`
    /// (a first snapshot included) and equals the trigger's segment; `segment_left` when
    /// `segment_before` is the trigger's segment and `segment` is not; `event` when some event
    /// has the trigger's name and the trigger's `when` holds for it; the body carries the first
    /// such event by timestamp. A trigger's optional `when` must hold in every case (event
    /// triggers evaluate it per event, with `event` bound).
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use northstar_act::{ActionKind, CompiledConfig, Config, Fields};
    /// let compiled = CompiledConfig::new(&Config::default())?;
    /// let mut f = Fields::new();
    /// f.set_text("segment", "at_risk"); // segment_before unset: a first snapshot
    /// let d = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
    /// let actions = compiled.triggers_for_customer("acme", d, &f, &[]).unwrap();
    /// assert_eq!(actions.len(), 1);
    /// assert_eq!(actions[0].idempotency_key, "cs-task-on-risk:acme:2024-03-31");
    /// assert_eq!(actions[0].kind, ActionKind::Task);
    /// # Ok::<(), northstar_act::ConfigError>(())
    /// ```
    pub fn triggers_for_customer(
        &self,
        customer_id: &str,
        as_of: NaiveDate,
        fields: &Fields,
        events: &[TriggerEvent],
    ) -> Result<Vec<Action>, ExprError> {
        let segment = fields.text("segment");
        let before = fields.text("segment_before");
        let mut scope = None;
        let mut actions = Vec::new();
        for (trigger, when) in self.config.triggers.iter().zip(&self.trigger_when) {
            let rule = format!("trigger {:?}", trigger.name);
            let fired_event = match trigger.on {
                TriggerOn::SegmentEntered | TriggerOn::SegmentLeft => {
                    let watched = trigger.segment.as_deref();
                    let crossed = if trigger.on == TriggerOn::SegmentEntered {
                        segment.is_some() && segment != before && segment == watched
                    } else {
                        before.is_some() && before == watched && segment != watched
                    };
                    if !crossed {
                        continue;
                    }
                    if let Some(w) = when {
                        let s = scope.get_or_insert_with(|| {
                            self.runtime.scope(fields, None, Some(customer_id))
                        });
                        if !w.eval_bool(s, &rule)? {
                            continue;
                        }
                    }
                    None
                }
                TriggerOn::Event => {
                    let name = trigger.event.as_deref().unwrap_or_default();
                    let mut candidates: Vec<&TriggerEvent> =
                        events.iter().filter(|e| e.name == name).collect();
                    if candidates.is_empty() {
                        continue;
                    }
                    candidates.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
                    let found = match when {
                        None => candidates.first().copied(),
                        Some(w) => {
                            let base = scope.get_or_insert_with(|| {
                                self.runtime.scope(fields, None, Some(customer_id))
                            });
                            let mut found = None;
                            for ev in candidates {
                                if w.eval_bool(&base.with_event(ev), &rule)? {
                                    found = Some(ev);
                                    break;
                                }
                            }
                            found
                        }
                    };
                    match found {
                        Some(ev) => Some(ev),
                        None => continue,
                    }
                }
            };
            actions.push(build_action(
                trigger,
                customer_id,
                as_of,
                fields,
                fired_event,
            ));
        }
        Ok(actions)
    }
}

fn build_action(
    trigger: &Trigger,
    customer_id: &str,
    as_of: NaiveDate,
    fields: &Fields,
    event: Option<&TriggerEvent>,
) -> Action {
    let key = idempotency_key(&trigger.name, customer_id, as_of);
    let body = Body {
        idempotency_key: &key,
        trigger: &trigger.name,
        customer_id,
        as_of: as_of.format("%Y-%m-%d").to_string(),
        segment: fields.text("segment"),
        segment_before: fields.text("segment_before"),
        health: fields.number("health"),
        tier: fields.text("tier"),
        clv: fields.number("clv"),
        p_alive: fields.number("p_alive"),
        event: event.map(|e| EventBody {
            name: &e.name,
            timestamp: &e.timestamp,
            user_id: &e.user_id,
            feature: e.feature.as_deref(),
            data: &e.data,
        }),
    };
    // Strings, finite numbers and JSON values always serialize.
    let body = serde_json::to_string(&body).unwrap_or_default();
    let kind = match trigger.action {
        ActionType::Task => ActionKind::Task,
        ActionType::Webhook => ActionKind::Webhook {
            url: trigger.url.clone().unwrap_or_default(),
            secret_env: trigger.secret_env.clone().unwrap_or_default(),
            max_attempts: trigger.max_attempts,
        },
    };
    Action {
        idempotency_key: key,
        trigger: trigger.name.clone(),
        customer_id: customer_id.to_string(),
        as_of,
        kind,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const ISSUE_TRIGGERS: &str = r#"
[[trigger]]
name = "cs-task-on-risk"
on = "segment_entered"
segment = "at_risk"
action = "task"
[[trigger]]
name = "upsell-on-limit"
on = "event"
event = "limit_hit"
when = "segment == 'champion'"
action = "webhook"
url = "http://127.0.0.1:9000/hooks/upsell"
secret_env = "NORTHSTAR_WEBHOOK_SECRET"
max_attempts = 8
[[trigger]]
name = "thank-you"
on = "segment_left"
segment = "at_risk"
action = "task"
[[trigger]]
name = "export-offer"
on = "event"
event = "locked_feature_click"
when = "event.feature == 'export' && health >= 50"
action = "task"
"#;

    fn compiled() -> CompiledConfig {
        let text = format!(
            "{}{}",
            "[[segment]]\nname = \"at_risk\"\nwhen = \"tier == 'red'\"\n\
             [[segment]]\nname = \"champion\"\nwhen = \"tier == 'green'\"\n\
             [[segment]]\nname = \"stable\"\nwhen = \"true\"\n",
            ISSUE_TRIGGERS
        );
        CompiledConfig::new(&Config::from_toml(&text, "t.toml").unwrap()).unwrap()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()
    }

    fn fields(segment: &str, before: Option<&str>) -> Fields {
        let mut f = Fields::new();
        f.set_text("segment", segment);
        f.set_opt_text("segment_before", before);
        f.set_number("health", Some(62.5));
        f.set_text("tier", "yellow");
        f.set_number("clv", Some(120.25));
        f.set_number("p_alive", None);
        f
    }

    fn ev(name: &str, ts: &str, feature: Option<&str>) -> TriggerEvent {
        TriggerEvent {
            name: name.into(),
            timestamp: ts.into(),
            user_id: "u1".into(),
            feature: feature.map(String::from),
            data: serde_json::json!({"n": 1}),
        }
    }

    fn names(actions: &[Action]) -> Vec<&str> {
        actions.iter().map(|a| a.trigger.as_str()).collect()
    }

    #[test]
    fn entering_at_risk_creates_one_task_with_the_exact_body() {
        let a = compiled()
            .triggers_for_customer("acme", day(), &fields("at_risk", Some("stable")), &[])
            .unwrap();
        assert_eq!(names(&a), ["cs-task-on-risk"]);
        assert_eq!(a[0].kind, ActionKind::Task);
        assert_eq!(
            a[0].body,
            r#"{"idempotency_key":"cs-task-on-risk:acme:2024-03-31","trigger":"cs-task-on-risk","customer_id":"acme","as_of":"2024-03-31","segment":"at_risk","segment_before":"stable","health":62.5,"tier":"yellow","clv":120.25,"p_alive":null,"event":null}"#
        );
    }

    #[test]
    fn first_snapshot_enters_its_segment() {
        let a = compiled()
            .triggers_for_customer("acme", day(), &fields("at_risk", None), &[])
            .unwrap();
        assert_eq!(names(&a), ["cs-task-on-risk"]);
        assert!(a[0].body.contains(r#""segment_before":null"#));
    }

    #[test]
    fn staying_in_a_segment_fires_nothing() {
        let a = compiled()
            .triggers_for_customer("acme", day(), &fields("at_risk", Some("at_risk")), &[])
            .unwrap();
        assert!(a.is_empty());
    }

    #[test]
    fn leaving_at_risk_fires_segment_left_only() {
        let a = compiled()
            .triggers_for_customer("acme", day(), &fields("stable", Some("at_risk")), &[])
            .unwrap();
        assert_eq!(names(&a), ["thank-you"]);
    }

    #[test]
    fn limit_hit_by_a_champion_posts_one_webhook_with_the_first_event() {
        let events = [
            ev("limit_hit", "2024-03-20T09:00:00Z", None),
            ev("page_view", "2024-03-01T09:00:00Z", None),
            ev("limit_hit", "2024-03-05T12:30:00Z", Some("seats")),
        ];
        let a = compiled()
            .triggers_for_customer(
                "acme",
                day(),
                &fields("champion", Some("champion")),
                &events,
            )
            .unwrap();
        assert_eq!(names(&a), ["upsell-on-limit"]);
        assert_eq!(
            a[0].kind,
            ActionKind::Webhook {
                url: "http://127.0.0.1:9000/hooks/upsell".into(),
                secret_env: "NORTHSTAR_WEBHOOK_SECRET".into(),
                max_attempts: 8
            }
        );
        assert!(
            a[0].body.ends_with(
                r#""event":{"name":"limit_hit","timestamp":"2024-03-05T12:30:00Z","user_id":"u1","feature":"seats","data":{"n":1}}}"#
            ),
            "{}",
            a[0].body
        );
    }

    #[test]
    fn limit_hit_by_a_non_champion_fires_nothing() {
        let events = [ev("limit_hit", "2024-03-20T09:00:00Z", None)];
        let a = compiled()
            .triggers_for_customer("acme", day(), &fields("stable", Some("stable")), &events)
            .unwrap();
        assert!(a.is_empty());
    }

    #[test]
    fn event_condition_picks_the_first_event_for_which_it_holds() {
        let events = [
            ev("locked_feature_click", "2024-03-02T00:00:00Z", Some("sso")),
            ev(
                "locked_feature_click",
                "2024-03-09T00:00:00Z",
                Some("export"),
            ),
            ev("locked_feature_click", "2024-03-03T00:00:00Z", None),
            ev(
                "locked_feature_click",
                "2024-03-04T00:00:00Z",
                Some("export"),
            ),
        ];
        let a = compiled()
            .triggers_for_customer("acme", day(), &fields("stable", Some("stable")), &events)
            .unwrap();
        assert_eq!(names(&a), ["export-offer"]);
        assert!(
            a[0].body.contains(r#""timestamp":"2024-03-04T00:00:00Z""#),
            "{}",
            a[0].body
        );
    }

    #[test]
    fn same_inputs_give_the_same_idempotency_keys() {
        let c = compiled();
        let f = fields("at_risk", Some("stable"));
        let a = c.triggers_for_customer("acme", day(), &f, &[]).unwrap();
        let b = c.triggers_for_customer("acme", day(), &f, &[]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].idempotency_key, "cs-task-on-risk:acme:2024-03-31");
    }

    #[test]
    fn trigger_condition_error_names_trigger_and_customer() {
        let text = "[[segment]]\nname = \"s\"\nwhen = \"true\"\n\
                    [[trigger]]\nname = \"bad\"\non = \"segment_entered\"\nsegment = \"s\"\n\
                    when = \"segment > 1\"\naction = \"task\"\n";
        let c = CompiledConfig::new(&Config::from_toml(text, "t.toml").unwrap()).unwrap();
        let err = c
            .triggers_for_customer("c9", day(), &fields("s", None), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("trigger \"bad\" (when = \"segment > 1\") failed for customer \"c9\""),
            "{err}"
        );
    }
}
