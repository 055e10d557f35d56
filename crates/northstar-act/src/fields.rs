//! Per-customer fields: the values health measures, segment rules and trigger conditions read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One per-customer value: a number, a text, or null (missing or not computable).
///
/// Serializes as JSON `null`, a number or a string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// Missing, not computable, or not finite.
    Null,
    /// A finite number. Counts are numbers too (`3.0`): expressions compare them with integer
    /// literals as expected (`features_used_30d >= 3`).
    Number(f64),
    /// A text, such as `tier`, `segment` or a customer-file column.
    Text(String),
}

impl FieldValue {
    /// The number, if this is a number.
    ///
    /// ```
    /// use northstar_act::FieldValue;
    /// assert_eq!(FieldValue::Number(2.5).as_number(), Some(2.5));
    /// assert_eq!(FieldValue::Text("2.5".into()).as_number(), None);
    /// ```
    pub fn as_number(&self) -> Option<f64> {
        match self {
            FieldValue::Number(x) => Some(*x),
            _ => None,
        }
    }

    /// The text, if this is a text.
    ///
    /// ```
    /// use northstar_act::FieldValue;
    /// assert_eq!(FieldValue::Text("red".into()).as_text(), Some("red"));
    /// assert_eq!(FieldValue::Null.as_text(), None);
    /// ```
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// True for [`FieldValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null)
    }
}

/// The fields of one customer, by name.
///
/// The caller fills them: `p_alive`, `expected_purchases`, `clv`, `clv_percentile`, `frequency`,
/// `recency`, `T`, `monetary_value`, `mrr`, `active_users_30d`, `dau_mau`, `sessions_30d`,
/// `avg_session_minutes`, `features_used_30d`, `usage_trend`, `days_since_last_activity`, the
/// customer-file columns, then `health`, `tier`, `segment_before` and `segment` as they become
/// known. Setting `customer_id` too lets expression errors name the customer. A name that was
/// never set reads as null.
///
/// ```
/// use northstar_act::{FieldValue, Fields};
/// let mut f = Fields::new();
/// f.set_number("p_alive", Some(0.8));
/// f.set_number("dau_mau", Some(f64::NAN)); // not finite -> null
/// f.set_text("tier", "green");
/// assert_eq!(f.get("p_alive"), &FieldValue::Number(0.8));
/// assert!(f.get("dau_mau").is_null());
/// assert!(f.get("never_set").is_null());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fields(BTreeMap<String, FieldValue>);

static NULL: FieldValue = FieldValue::Null;

impl Fields {
    /// No fields.
    pub fn new() -> Fields {
        Fields(BTreeMap::new())
    }

    /// Sets a number; `None` or a value that is not finite (NaN, ±∞) is stored as null.
    pub fn set_number(&mut self, name: &str, value: Option<f64>) {
        let v = match value {
            Some(x) if x.is_finite() => FieldValue::Number(x),
            _ => FieldValue::Null,
        };
        self.0.insert(name.to_string(), v);
    }

    /// Sets a text.
    pub fn set_text(&mut self, name: &str, value: &str) {
        self.0
            .insert(name.to_string(), FieldValue::Text(value.to_string()));
    }

    /// Sets a text, or null for `None`.
    pub fn set_opt_text(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.set_text(name, v),
            None => self.set_null(name),
        }
    }

    /// Sets null.
    pub fn set_null(&mut self, name: &str) {
        self.0.insert(name.to_string(), FieldValue::Null);
    }

    /// The value of a field; null when it was never set.
    pub fn get(&self, name: &str) -> &FieldValue {
        self.0.get(name).unwrap_or(&NULL)
    }

    /// The number in a field, if it holds one.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.get(name).as_number()
    }

    /// The text in a field, if it holds one.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).as_text()
    }

    /// All set fields, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many fields are set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_and_missing_numbers_are_stored_as_null() {
        let mut f = Fields::new();
        f.set_number("a", Some(f64::INFINITY));
        f.set_number("b", None);
        f.set_number("c", Some(-0.5));
        assert!(f.get("a").is_null());
        assert!(f.get("b").is_null());
        assert_eq!(f.number("c"), Some(-0.5));
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn fields_serialize_as_a_plain_json_object() {
        let mut f = Fields::new();
        f.set_number("clv", Some(12.5));
        f.set_text("tier", "red");
        f.set_null("mrr");
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"clv":12.5,"mrr":null,"tier":"red"}"#
        );
    }
}
