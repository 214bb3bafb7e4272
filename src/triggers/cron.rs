//! 5-field CRON schedules in UTC (reference §6.4): `minute hour day-of-month month weekday`, with
//! `*`, values, lists `a,b`, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`, three-letter month and
//! weekday names, weekday 0 (or 7) = Sunday. As in cron, when both day fields are restricted a
//! day matching either fires.

use std::fmt;

/// A field could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {schedule:?}: {message}")]
pub struct CronError {
    /// The schedule as written.
    pub schedule: String,
    /// What is wrong.
    pub message: String,
}

/// A parsed schedule.
///
/// ```
/// use expanse::triggers::Schedule;
/// let s = Schedule::parse("*/15 9-17 * * MON-FRI").unwrap();
/// // 2024-01-01 was a Monday; 09:07 UTC → 09:15 UTC.
/// let t = 1_704_099_600_000 + 7 * 60_000;
/// assert_eq!(s.next_after(t), Some(1_704_099_600_000 + 15 * 60_000));
/// assert!(Schedule::parse("61 * * * *").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.text)
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

impl Schedule {
    /// Parses a 5-field schedule.
    pub fn parse(text: &str) -> Result<Schedule, CronError> {
        let fail = |message: String| CronError {
            schedule: text.to_owned(),
            message,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(fail(format!(
                "expected 5 fields (minute hour day-of-month month weekday), found {}",
                fields.len()
            )));
        };
        let minutes = field(minute, 0, 59, &[]).map_err(|m| fail(format!("minute: {m}")))?;
        let hours = field(hour, 0, 23, &[]).map_err(|m| fail(format!("hour: {m}")))?;
        let days = field(day, 1, 31, &[]).map_err(|m| fail(format!("day of month: {m}")))?;
        let months = field(month, 1, 12, &MONTHS).map_err(|m| fail(format!("month: {m}")))?;
        let mut weekdays =
            field(weekday, 0, 7, &WEEKDAYS).map_err(|m| fail(format!("weekday: {m}")))?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(Schedule {
            text: text.to_owned(),
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted: !day.starts_with('*'),
            weekdays_restricted: !weekday.starts_with('*'),
        })
    }

    /// The schedule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time (Unix milliseconds, UTC) strictly after `after` that the schedule fires;
    /// `None` when it never does within five years (`0 0 31 2 *`).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.div_euclid(MINUTE_MS) * MINUTE_MS + MINUTE_MS;
        let first_day = start.div_euclid(DAY_MS);
        for day in first_day..first_day + 366 * 5 {
            if !self.day_matches(day) {
                continue;
            }
            for hour in 0..24i64 {
                if self.hours & (1 << hour) == 0 {
                    continue;
                }
                for minute in 0..60i64 {
                    if self.minutes & (1 << minute) == 0 {
                        continue;
                    }
                    let t = day * DAY_MS + hour * 3_600_000 + minute * MINUTE_MS;
                    if t >= start {
                        return Some(t);
                    }
                }
            }
        }
        None
    }

    /// The last time at or before `at` that the schedule fired, no earlier than `after`
    /// (exclusive); `None` when it did not fire in `(after, at]`.
    pub fn last_in(&self, after: i64, at: i64) -> Option<i64> {
        let mut last = None;
        let mut t = after;
        while let Some(next) = self.next_after(t) {
            if next > at {
                break;
            }
            last = Some(next);
            t = next;
        }
        last
    }

    fn day_matches(&self, day: i64) -> bool {
        let (_, month, dom) = civil_from_days(day);
        if self.months & (1 << month) == 0 {
            return false;
        }
        let weekday = (day + 4).rem_euclid(7);
        let by_day = self.days & (1 << dom) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => by_day || by_weekday,
            _ => by_day && by_weekday,
        }
    }
}

/// One field as a bit set of its allowed values.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("step {s:?} is not a number"))?;
                if step == 0 {
                    return Err("a step of 0".into());
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let v = value(range, min, max, names)?;
            (v, if item.contains('/') { max } else { v })
        };
        if low > high {
            return Err(format!("range {range:?} runs backwards"));
        }
        let mut v = low;
        while v <= high {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        // Month names start at 1 (min), weekday names at 0 (min).
        return Ok(i as u32 + min);
    }
    let v: u32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a value"))?;
    if v < min || v > max {
        return Err(format!("{v} is outside {min}-{max}"));
    }
    Ok(v)
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// 2024-01-01T00:00Z, a Monday.
    const JAN1: i64 = 1_704_067_200_000;

    #[test]
    fn fields_and_names() {
        let s = Schedule::parse("0 7 * * *").unwrap();
        assert_eq!(s.next_after(JAN1), Some(JAN1 + 7 * 3_600_000));
        let s = Schedule::parse("30 0 * FEB SUN").unwrap();
        // 2024-02-04 is the first Sunday of February.
        assert_eq!(
            s.next_after(JAN1),
            Some(JAN1 + 34 * DAY_MS + 30 * MINUTE_MS)
        );
        let s = Schedule::parse("0 0 * * 7").unwrap();
        assert_eq!(s.next_after(JAN1), Some(JAN1 + 6 * DAY_MS));
        let s = Schedule::parse("10/20 * * * *").unwrap();
        assert_eq!(s.next_after(JAN1), Some(JAN1 + 10 * MINUTE_MS));
        assert_eq!(
            s.next_after(JAN1 + 10 * MINUTE_MS),
            Some(JAN1 + 30 * MINUTE_MS)
        );
        let s = Schedule::parse("0 0 29 2 *").unwrap();
        assert_eq!(s.next_after(JAN1), Some(JAN1 + 59 * DAY_MS));
        assert_eq!(
            Schedule::parse("0 0 31 2 *").unwrap().next_after(JAN1),
            None
        );
    }

    #[test]
    fn either_day_field() {
        // The 15th or any Friday: 2024-01-05 is the first Friday.
        let s = Schedule::parse("0 0 15 * FRI").unwrap();
        assert_eq!(s.next_after(JAN1), Some(JAN1 + 4 * DAY_MS));
    }

    #[test]
    fn last_tick_in_a_window() {
        let s = Schedule::parse("0 * * * *").unwrap();
        let at = JAN1 + 3 * 3_600_000 + 5 * MINUTE_MS;
        assert_eq!(s.last_in(JAN1, at), Some(JAN1 + 3 * 3_600_000));
        assert_eq!(s.last_in(at, at + MINUTE_MS), None);
    }

    #[test]
    fn errors() {
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "* * * FOO *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
    }
}
