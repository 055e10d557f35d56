//! Options describing a purchase-log file and the summary to build from it.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::error::ParseOptionError;

/// How fields are separated in a purchase log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delimiter {
    /// Comma-separated values (RFC 4180 quoting).
    #[default]
    Comma,
    /// Tab-separated values.
    Tab,
    /// Runs of spaces or tabs; leading and trailing whitespace is ignored; no quoting.
    Whitespace,
}

impl FromStr for Delimiter {
    type Err = ParseOptionError;

    /// Accepts `,`, `comma`, `tab`, a tab character (or the two characters `\t`), and
    /// `whitespace`, ignoring case.
    ///
    /// ```
    /// use northstar_data::Delimiter;
    /// assert_eq!("TAB".parse::<Delimiter>().unwrap(), Delimiter::Tab);
    /// assert!("semicolon".parse::<Delimiter>().unwrap_err().to_string().contains("whitespace"));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "," | "comma" => Ok(Delimiter::Comma),
            "tab" | "\t" | "\\t" => Ok(Delimiter::Tab),
            "whitespace" => Ok(Delimiter::Whitespace),
            _ => Err(ParseOptionError {
                what: "delimiter",
                value: s.to_string(),
                expected: "one of: comma (or \",\"), tab (or \"\\t\"), whitespace",
            }),
        }
    }
}

/// A column given by header name or by 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    /// The column whose header is this name (exact match preferred, else ASCII case-insensitive).
    Name(String),
    /// The column at this 1-based position.
    Position(usize),
}

impl FromStr for ColumnRef {
    type Err = ParseOptionError;

    /// All digits means a 1-based position (0 is an error); anything else is a header name.
    ///
    /// ```
    /// use northstar_data::ColumnRef;
    /// assert_eq!("3".parse::<ColumnRef>().unwrap(), ColumnRef::Position(3));
    /// assert_eq!("date".parse::<ColumnRef>().unwrap(), ColumnRef::Name("date".into()));
    /// assert!("0".parse::<ColumnRef>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseOptionError {
            what: "column",
            value: s.to_string(),
            expected: "a header name or a 1-based column position (1, 2, ...)",
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err());
        }
        if t.bytes().all(|b| b.is_ascii_digit()) {
            match t.parse::<usize>() {
                Ok(0) | Err(_) => Err(err()),
                Ok(p) => Ok(ColumnRef::Position(p)),
            }
        } else {
            Ok(ColumnRef::Name(t.to_string()))
        }
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Name(n) => write!(f, "'{n}'"),
            ColumnRef::Position(p) => write!(f, "{p}"),
        }
    }
}

/// What to do with a row whose amount is negative (typically a return).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NegativeAmounts {
    /// Fail with an error naming the row.
    #[default]
    Error,
    /// Skip the whole row (its date does not count as a purchase).
    Drop,
    /// Add the amount into that day's total.
    Keep,
}

impl FromStr for NegativeAmounts {
    type Err = ParseOptionError;

    /// Accepts `error`, `drop` or `keep`, ignoring case.
    ///
    /// ```
    /// use northstar_data::NegativeAmounts;
    /// assert_eq!("drop".parse::<NegativeAmounts>().unwrap(), NegativeAmounts::Drop);
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(NegativeAmounts::Error),
            "drop" => Ok(NegativeAmounts::Drop),
            "keep" => Ok(NegativeAmounts::Keep),
            _ => Err(ParseOptionError {
                what: "negative-amounts policy",
                value: s.to_string(),
                expected: "one of: error, drop, keep",
            }),
        }
    }
}

/// The unit in which recency, T and durations are expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeUnit {
    /// 1 day.
    Day,
    /// 7 days.
    #[default]
    Week,
    /// 30.4375 days (365.25 / 12).
    Month,
    /// 365.25 days.
    Year,
}

impl TimeUnit {
    /// Length of the unit in days.
    ///
    /// ```
    /// assert_eq!(northstar_data::TimeUnit::Week.days(), 7.0);
    /// ```
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Day => 1.0,
            TimeUnit::Week => 7.0,
            TimeUnit::Month => 30.4375,
            TimeUnit::Year => 365.25,
        }
    }

    /// Singular lower-case name: `day`, `week`, `month` or `year`.
    ///
    /// ```
    /// assert_eq!(northstar_data::TimeUnit::Month.name(), "month");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
            TimeUnit::Month => "month",
            TimeUnit::Year => "year",
        }
    }
}

impl FromStr for TimeUnit {
    type Err = ParseOptionError;

    /// Accepts `day`, `week`, `month`, `year` and their plurals, ignoring case.
    ///
    /// ```
    /// use northstar_data::TimeUnit;
    /// assert_eq!("Weeks".parse::<TimeUnit>().unwrap(), TimeUnit::Week);
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let singular = lower.strip_suffix('s').unwrap_or(&lower);
        match singular {
            "day" => Ok(TimeUnit::Day),
            "week" => Ok(TimeUnit::Week),
            "month" => Ok(TimeUnit::Month),
            "year" => Ok(TimeUnit::Year),
            _ => Err(ParseOptionError {
                what: "time unit",
                value: s.to_string(),
                expected: "one of: day, week, month, year",
            }),
        }
    }
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to read a purchase log: one row per purchase with a customer id, a date and optionally an
/// amount.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionFormat {
    /// Field separator. Default: comma.
    pub delimiter: Delimiter,
    /// Whether the first (non-blank) line is a header. Default: true.
    pub has_header: bool,
    /// The customer id column. Default: `customer_id`.
    pub customer_col: ColumnRef,
    /// The purchase date column. Default: `date`.
    pub date_col: ColumnRef,
    /// The amount column. `None` (default): use a column named `amount` if the header has one,
    /// otherwise every amount is 0. `Some`: the column is required.
    pub amount_col: Option<ColumnRef>,
    /// A chrono strftime pattern for dates. `None` (default): accept `YYYY-MM-DD`, `YYYYMMDD`
    /// and ISO 8601 date-times (the time of day and any offset are ignored).
    pub date_format: Option<String>,
    /// What to do with negative amounts. Default: error.
    pub negative_amounts: NegativeAmounts,
}

impl Default for TransactionFormat {
    fn default() -> Self {
        TransactionFormat {
            delimiter: Delimiter::Comma,
            has_header: true,
            customer_col: ColumnRef::Name("customer_id".to_string()),
            date_col: ColumnRef::Name("date".to_string()),
            amount_col: None,
            date_format: None,
            negative_amounts: NegativeAmounts::Error,
        }
    }
}

/// Which summary to build.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SummaryOptions {
    /// Last day of observation (inclusive); later purchases are ignored. Default: the last
    /// purchase date in the file.
    pub observation_end: Option<NaiveDate>,
    /// If set, build a calibration/holdout split at this day (inclusive in calibration); it must
    /// be before `observation_end`.
    pub calibration_end: Option<NaiveDate>,
    /// Unit for recency, T and durations. Default: week.
    pub time_unit: TimeUnit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_accepts_names_and_characters_ignoring_case() {
        for (s, d) in [
            (",", Delimiter::Comma),
            ("Comma", Delimiter::Comma),
            ("tab", Delimiter::Tab),
            ("\t", Delimiter::Tab),
            ("\\t", Delimiter::Tab),
            ("WHITESPACE", Delimiter::Whitespace),
        ] {
            assert_eq!(s.parse::<Delimiter>().unwrap(), d, "{s:?}");
        }
        let err = ";".parse::<Delimiter>().unwrap_err().to_string();
        assert!(
            err.contains("comma") && err.contains("tab") && err.contains("whitespace"),
            "{err}"
        );
    }

    #[test]
    fn column_ref_is_a_position_when_all_digits_and_rejects_zero() {
        assert_eq!("12".parse::<ColumnRef>().unwrap(), ColumnRef::Position(12));
        assert_eq!(
            "col2".parse::<ColumnRef>().unwrap(),
            ColumnRef::Name("col2".into())
        );
        assert!("0".parse::<ColumnRef>().is_err());
        assert!("".parse::<ColumnRef>().is_err());
        assert!("99999999999999999999999".parse::<ColumnRef>().is_err());
    }

    #[test]
    fn negative_amounts_and_time_units_parse_with_plurals_and_case() {
        assert_eq!(
            "KEEP".parse::<NegativeAmounts>().unwrap(),
            NegativeAmounts::Keep
        );
        assert!("ignore"
            .parse::<NegativeAmounts>()
            .unwrap_err()
            .to_string()
            .contains("error, drop, keep"));
        assert_eq!("days".parse::<TimeUnit>().unwrap(), TimeUnit::Day);
        assert_eq!("Year".parse::<TimeUnit>().unwrap(), TimeUnit::Year);
        assert!("fortnight".parse::<TimeUnit>().is_err());
        assert_eq!(TimeUnit::Month.days(), 365.25 / 12.0);
        assert_eq!(TimeUnit::Year.name(), "year");
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let f = TransactionFormat::default();
        assert_eq!(f.delimiter, Delimiter::Comma);
        assert!(f.has_header);
        assert_eq!(f.customer_col, ColumnRef::Name("customer_id".into()));
        assert_eq!(f.date_col, ColumnRef::Name("date".into()));
        assert_eq!(
            (f.amount_col, f.date_format, f.negative_amounts),
            (None, None, NegativeAmounts::Error)
        );
        let o = SummaryOptions::default();
        assert_eq!(
            (o.observation_end, o.calibration_end, o.time_unit),
            (None, None, TimeUnit::Week)
        );
    }
}
