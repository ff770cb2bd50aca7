//! Opening hours: weekly local time ranges in an IANA time zone, with closed dates.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
/// Minutes in a day.
const DAY: u16 = 1440;
const DAY_HINT: &str = "use `mon`..`sun`, a range like `mon-fri`, a list like `mon,wed`, `daily`, `weekdays` or `weekends`";
const VALUE_HINT: &str =
    "write a range like `08:00-18:00`, several like `08:00-12:00, 13:00-17:00`, `24h` or `closed`";
const TZ_HINT: &str = "use an IANA name like `America/New_York`";
const DATE_HINT: &str =
    "write a date as `2026-12-25` or an inclusive range as `2026-12-24..2026-12-26`";

/// A problem before it is tied to a field: message and hint.
type Problem = (String, Option<String>);

/// A compiled weekly schedule in one IANA time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    tz: Tz,
    /// Per weekday, Monday first: sorted `[start, end)` minutes after local midnight;
    /// an `end` past 1440 runs into the next day.
    days: [Vec<(u16, u16)>; 7],
    /// Inclusive local date ranges when closed all day.
    closed: Vec<(NaiveDate, NaiveDate)>,
}

/// Which part of an `hours` entry an error is about (indices into the slices given to [`Schedule::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoursField {
    /// The `timezone` value.
    Timezone,
    /// The key of the `weekly` entry at this index.
    WeeklyKey(usize),
    /// The value of the `weekly` entry at this index.
    WeeklyValue(usize),
    /// The `closed` entry at this index.
    Closed(usize),
}

/// One problem in an `hours` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HoursError {
    /// Where the problem is.
    pub field: HoursField,
    /// What is wrong, lower-case and short.
    pub message: String,
    /// How to fix it, when there is a likely fix.
    pub hint: Option<String>,
}

impl Schedule {
    /// Builds a schedule; reports every problem found, not just the first.
    ///
    /// `weekly` pairs day keys (`mon-fri`, `sat`, `daily`) with time ranges
    /// (`08:00-18:00`, `24h`, `closed`); `closed` holds dates or inclusive date ranges.
    pub fn parse(
        timezone: &str,
        weekly: &[(String, String)],
        closed: &[String],
    ) -> Result<Schedule, Vec<HoursError>> {
        let mut errors = Vec::new();
        let mut push = |field: HoursField, (message, hint): Problem| {
            errors.push(HoursError {
                field,
                message,
                hint,
            })
        };
        let tz = parse_tz(timezone).unwrap_or_else(|p| {
            push(HoursField::Timezone, p);
            Tz::UTC
        });
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        let mut owner: [Option<usize>; 7] = [None; 7];
        for (i, (key, value)) in weekly.iter().enumerate() {
            let ranges = parse_ranges(value).unwrap_or_else(|ps| {
                ps.into_iter()
                    .for_each(|p| push(HoursField::WeeklyValue(i), p));
                Vec::new()
            });
            let set = match parse_days(key) {
                Ok(set) => set,
                Err(p) => {
                    push(HoursField::WeeklyKey(i), p);
                    continue;
                }
            };
            // Days this key repeats, grouped by the earlier key that gave them.
            let mut taken: Vec<(usize, Vec<&str>)> = Vec::new();
            for d in (0..7).filter(|&d| set[d]) {
                match owner[d] {
                    Some(j) => match taken.iter_mut().find(|(k, _)| *k == j) {
                        Some((_, names)) => names.push(DAYS[d]),
                        None => taken.push((j, vec![DAYS[d]])),
                    },
                    None => {
                        owner[d] = Some(i);
                        days[d] = ranges.clone();
                    }
                }
            }
            for (j, names) in taken {
                let earlier = weekly.get(j).map_or("", |(k, _)| k.trim());
                let verb = if names.len() == 1 { "is" } else { "are" };
                let message = format!(
                    "`{}` {verb} already given by `{earlier}`",
                    names.join("`, `")
                );
                push(
                    HoursField::WeeklyKey(i),
                    problem(message, "give each day only once"),
                );
            }
        }
        let mut dates = Vec::new();
        for (i, entry) in closed.iter().enumerate() {
            match parse_closed(entry) {
                Ok(range) => dates.push(range),
                Err(p) => push(HoursField::Closed(i), p),
            }
        }
        if errors.is_empty() {
            Ok(Schedule {
                tz,
                days,
                closed: dates,
            })
        } else {
            Err(errors)
        }
    }

    /// The time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// One-line human description, e.g. "mon-fri 08:00-18:00, sat 09:00-13:00 (America/New_York)".
    pub fn describe(&self) -> String {
        let text: Vec<String> = self
            .days
            .iter()
            .map(|ranges| {
                ranges
                    .iter()
                    .map(|&(s, e)| fmt_range(s, e))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        let mut groups = Vec::new();
        let mut i = 0;
        while let Some(first) = text.get(i) {
            let mut j = i;
            while text.get(j + 1) == Some(first) {
                j += 1;
            }
            if !first.is_empty() {
                groups.push(match (i, j) {
                    (0, 6) => format!("daily {first}"),
                    _ if i == j => format!("{} {first}", DAYS[i]),
                    _ => format!("{}-{} {first}", DAYS[i], DAYS[j]),
                });
            }
            i = j + 1;
        }
        let weekly = if groups.is_empty() {
            "closed".to_string()
        } else {
            groups.join(", ")
        };
        format!("{weekly} ({})", self.tz.name())
    }

    fn is_closed_on(&self, date: NaiveDate) -> bool {
        self.closed.iter().any(|&(a, b)| a <= date && date <= b)
    }
}

/// True when the schedule is open at `instant`. Pure: the clock is passed in.
pub fn is_open(schedule: &Schedule, instant: DateTime<Utc>) -> bool {
    // Wall-clock time in the zone; `naive_local` could panic at the ends of chrono's range.
    let utc = instant.naive_utc();
    let Some(local) = utc.checked_add_offset(schedule.tz.offset_from_utc_datetime(&utc).fix())
    else {
        return false;
    };
    let (date, now) = (local.date(), local.num_seconds_from_midnight());
    // `num_days_from_monday` is 0..=6, so both indices below are in bounds.
    let wd = date.weekday().num_days_from_monday() as usize;
    let today = !schedule.is_closed_on(date)
        && schedule.days[wd]
            .iter()
            .any(|&(s, e)| u32::from(s) * 60 <= now && now < u32::from(e) * 60);
    // An overnight range belongs to the day it starts on.
    today
        || date.pred_opt().is_some_and(|prev| {
            !schedule.is_closed_on(prev)
                && schedule.days[(wd + 6) % 7]
                    .iter()
                    .any(|&(_, e)| now + 86_400 < u32::from(e) * 60)
        })
}

/// Exact IANA names; a name that matches only ignoring case is accepted as its canonical spelling.
fn parse_tz(name: &str) -> Result<Tz, Problem> {
    let name = name.trim();
    if name.is_empty() {
        return Err(problem("missing time zone".into(), TZ_HINT));
    }
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    if let Some(tz) = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
    {
        return Ok(*tz);
    }
    // Compare with whole names and with their last part, so `new york` finds `America/New_York`.
    let candidates = chrono_tz::TZ_VARIANTS.iter().flat_map(|tz| {
        let full = tz.name();
        [
            (full, full),
            (full.rsplit('/').next().unwrap_or(full), full),
        ]
    });
    let hint = nearest(name, candidates).map_or(TZ_HINT.into(), |n| format!("did you mean `{n}`?"));
    Err(problem(format!("unknown time zone `{name}`"), hint))
}

/// The answer of the closest candidate (spelling, answer), if it is close enough to be a likely typo.
fn nearest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    let max = (word.chars().count() / 3).max(2);
    let (dist, answer) = candidates
        .into_iter()
        .map(|(spelling, answer)| (strsim::levenshtein(&word, &spelling.to_lowercase()), answer))
        .min_by_key(|&(d, _)| d)?;
    (dist <= max).then_some(answer)
}

/// A weekly key as a set of weekdays, Monday first.
fn parse_days(key: &str) -> Result<[bool; 7], Problem> {
    let key = key.trim().to_lowercase().replace(['–', '—'], "-");
    if key.is_empty() {
        return Err(problem("empty day key".into(), DAY_HINT));
    }
    let mut set = [false; 7];
    for part in key.split(',').map(str::trim) {
        let span = match part {
            "daily" | "everyday" | "every day" => (0, 6),
            "weekdays" | "weekday" => (0, 4),
            "weekends" | "weekend" => (5, 6),
            _ => match part.split_once('-') {
                Some((a, b)) => (day(a.trim(), &key)?, day(b.trim(), &key)?),
                None => (day(part, &key)?, day(part, &key)?),
            },
        };
        // Walk forward from the first day, wrapping past Sunday (`fri-mon`).
        let mut d = span.0;
        set[d] = true;
        while d != span.1 {
            d = (d + 1) % 7;
            set[d] = true;
        }
    }
    Ok(set)
}

/// A day name (`mon`, `monday`, `tues`, `mondays`, any case) as 0 (Monday) ..= 6.
fn day(name: &str, key: &str) -> Result<usize, Problem> {
    if name.is_empty() {
        return Err(problem(format!("missing day in `{key}`"), DAY_HINT));
    }
    let singular = name
        .strip_suffix('s')
        .filter(|s| FULL.contains(s))
        .unwrap_or(name);
    let found = match singular {
        "weds" => Some(2),
        s if s.len() >= 2 => FULL.iter().position(|f| f.starts_with(s)),
        _ => None,
    };
    found.ok_or_else(|| {
        let spellings = DAYS.iter().zip(FULL).flat_map(|(&d, f)| [(d, d), (f, d)]);
        let specials = ["daily", "weekdays", "weekends"].map(|s| (s, s));
        let hint = nearest(name, spellings.chain(specials))
            .map_or_else(|| DAY_HINT.into(), |n| format!("did you mean `{n}`?"));
        (format!("`{name}` is not a day"), Some(hint))
    })
}

/// A weekly value as sorted, non-overlapping `[start, end)` minute ranges.
fn parse_ranges(value: &str) -> Result<Vec<(u16, u16)>, Vec<Problem>> {
    let value = value.trim().to_lowercase().replace(['–', '—'], "-");
    match value.as_str() {
        "closed" | "off" => return Ok(Vec::new()),
        "24h" | "24 h" | "24 hours" | "all day" => return Ok(vec![(0, DAY)]),
        "" => return Err(vec![problem("empty hours".into(), VALUE_HINT)]),
        _ => {}
    }
    let (mut ranges, mut problems) = (Vec::new(), Vec::new());
    for part in value.split(',').map(str::trim) {
        match parse_range(part) {
            Ok(range) => ranges.push(range),
            Err(p) => problems.push(p),
        }
    }
    ranges.sort_unstable();
    // Compare each range with the one reaching furthest among those before it.
    let mut reach: Option<(u16, u16)> = None;
    for &(s, e) in &ranges {
        match reach {
            Some((rs, re)) if s < re => {
                let merged = (re.max(e) - rs < DAY)
                    .then(|| format!("merge them into `{}`", fmt_range(rs, re.max(e))));
                problems.push((
                    format!("`{}` overlaps `{}`", fmt_range(rs, re), fmt_range(s, e)),
                    merged,
                ));
            }
            _ => {}
        }
        reach = match reach {
            Some((rs, re)) if re >= e => Some((rs, re)),
            _ => Some((s, e)),
        };
    }
    if problems.is_empty() {
        Ok(ranges)
    } else {
        Err(problems)
    }
}

/// One `HH:MM-HH:MM` range; an end at or before the start runs past midnight.
fn parse_range(part: &str) -> Result<(u16, u16), Problem> {
    let not_range = |hint| problem(format!("`{part}` is not a time range"), hint);
    let (a, b) = part.split_once('-').ok_or_else(|| not_range(VALUE_HINT))?;
    if b.contains('-') {
        return Err(not_range("separate ranges with a comma"));
    }
    let (start, end) = (parse_time(a.trim())?, parse_time(b.trim())?);
    if start == DAY {
        let hint = "a range can end at `24:00` but starts at `00:00`";
        return Err(problem(format!("`{part}` starts at `24:00`"), hint));
    }
    if start == end {
        let hint = "use `24h` for the whole day or `closed`";
        return Err(problem(
            format!("`{part}` starts and ends at the same time"),
            hint,
        ));
    }
    Ok((start, if end < start { end + DAY } else { end }))
}

/// `HH:MM` or `H:MM`, 00:00 ..= 24:00, as minutes after midnight.
fn parse_time(t: &str) -> Result<u16, Problem> {
    let bad = || {
        (
            format!("`{t}` is not a time of day (HH:MM, 00:00-24:00)"),
            time_hint(t),
        )
    };
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let (h, m) = t
        .split_once(':')
        .filter(|(h, m)| digits(h, 1..=2) && digits(m, 2..=2))
        .ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// The HH:MM spelling of a near-miss time (`8`, `0800`, `5pm`, `8:5`), if there is one.
fn time_hint(t: &str) -> Option<String> {
    let (num, shift) = match (t.strip_suffix("pm"), t.strip_suffix("am")) {
        (Some(n), _) => (n.trim(), Some(12)),
        (_, Some(n)) => (n.trim(), Some(0)),
        _ => (t, None),
    };
    let (h, m) = match num.split_once(':') {
        Some(hm) => hm,
        None if num.len() == 4 && num.is_ascii() => num.split_at(2),
        None => (num, "0"),
    };
    let (mut h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if let Some(shift) = shift {
        if !(1..=12).contains(&h) {
            return None;
        }
        h = h % 12 + shift;
    }
    (h < 24 && m < 60).then(|| format!("write `{h:02}:{m:02}`"))
}

/// A `closed` entry: a date or an inclusive `start..end` range.
fn parse_closed(entry: &str) -> Result<(NaiveDate, NaiveDate), Problem> {
    let entry = entry.trim();
    let (a, b) = entry.split_once("..").unwrap_or((entry, entry));
    let (a, b) = (parse_date(a.trim())?, parse_date(b.trim())?);
    if b < a {
        return Err(problem(
            format!("`{entry}` ends before it starts"),
            format!("write `{b}..{a}`"),
        ));
    }
    Ok((a, b))
}

fn parse_date(s: &str) -> Result<NaiveDate, Problem> {
    let message = if s.is_empty() {
        "missing date".to_string()
    } else {
        format!("`{s}` is not a date (YYYY-MM-DD)")
    };
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| problem(message, DATE_HINT))
}

fn problem(message: String, hint: impl Into<String>) -> Problem {
    (message, Some(hint.into()))
}

fn fmt_range(start: u16, end: u16) -> String {
    if (start, end) == (0, DAY) {
        "24h".into()
    } else {
        format!("{}-{}", fmt_time(start), fmt_time(end))
    }
}

/// Minutes as `HH:MM`; past 24:00 wraps into the next day.
fn fmt_time(m: u16) -> String {
    let m = if m > DAY { m - DAY } else { m };
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;
    use proptest::prelude::*;

    fn sched(
        tz: &str,
        weekly: &[(&str, &str)],
        closed: &[&str],
    ) -> Result<Schedule, Vec<HoursError>> {
        let weekly: Vec<(String, String)> = weekly
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let closed: Vec<String> = closed.iter().map(|c| c.to_string()).collect();
        Schedule::parse(tz, &weekly, &closed)
    }

    fn ok(tz: &str, weekly: &[(&str, &str)], closed: &[&str]) -> Schedule {
        sched(tz, weekly, closed).unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Every error of a parse as `Field: message [hint]`.
    fn errors(tz: &str, weekly: &[(&str, &str)], closed: &[&str]) -> Vec<String> {
        let render = |e: &HoursError| {
            let hint = e.hint.as_deref().unwrap_or("-");
            format!("{:?}: {} [{hint}]", e.field, e.message)
        };
        sched(tz, weekly, closed)
            .unwrap_err()
            .iter()
            .map(render)
            .collect()
    }

    /// Runs `input => expected error` rows through `parse_with`.
    fn table(rows: &[&str], parse_with: impl Fn(&str) -> Vec<String>) {
        for row in rows {
            let (input, expected) = row.split_once(" => ").unwrap();
            assert_eq!(parse_with(input), [expected], "input `{input}`");
        }
    }

    #[test]
    fn new_york_business_hours() {
        let s = ok("America/New_York", &[("mon-fri", "08:00-18:00")], &[]);
        assert_eq!(at("2026-11-24T10:00:00-05:00").weekday(), Weekday::Tue);
        assert!(is_open(&s, at("2026-11-24T10:00:00-05:00")));
        assert!(is_open(&s, at("2026-11-24T08:00:00-05:00")));
        assert!(is_open(&s, at("2026-11-24T17:59:59-05:00")));
        assert!(!is_open(&s, at("2026-11-24T07:59:00-05:00")));
        assert!(!is_open(&s, at("2026-11-24T18:00:00-05:00")));
        assert!(!is_open(&s, at("2026-11-28T10:00:00-05:00")), "saturday");
    }

    #[test]
    fn dst_spring_forward_and_fall_back() {
        let s = ok("America/New_York", &[("mon-fri", "08:00-18:00")], &[]);
        // Monday after spring forward (EDT, UTC-4): 12:30Z is 08:30 local.
        assert!(is_open(&s, at("2026-03-09T12:30:00Z")));
        // Friday before it (EST, UTC-5): 12:30Z is 07:30 local.
        assert!(!is_open(&s, at("2026-03-06T12:30:00Z")));
        // Monday after fall back (EST): 12:30Z is 07:30, 13:00Z is 08:00.
        assert!(!is_open(&s, at("2026-11-02T12:30:00Z")));
        assert!(is_open(&s, at("2026-11-02T13:00:00Z")));
        // Friday before fall back (EDT): 12:30Z is 08:30.
        assert!(is_open(&s, at("2026-10-30T12:30:00Z")));
        // The repeated hour on 2026-11-01 counts both times.
        let night = ok("America/New_York", &[("daily", "01:00-02:00")], &[]);
        assert!(is_open(&night, at("2026-11-01T05:30:00Z")), "01:30 EDT");
        assert!(is_open(&night, at("2026-11-01T06:30:00Z")), "01:30 EST");
        assert!(!is_open(&night, at("2026-11-01T07:00:00Z")), "02:00 EST");
    }

    #[test]
    fn closed_dates_and_ranges() {
        let s = ok(
            "Europe/London",
            &[("daily", "09:00-17:00")],
            &["2026-12-25", " 2026-12-30..2027-01-01 "],
        );
        assert!(is_open(&s, at("2026-12-24T12:00:00Z")));
        assert!(!is_open(&s, at("2026-12-25T12:00:00Z")));
        assert!(is_open(&s, at("2026-12-29T12:00:00Z")));
        assert!(!is_open(&s, at("2026-12-30T12:00:00Z")));
        assert!(!is_open(&s, at("2026-12-31T12:00:00Z")));
        assert!(!is_open(&s, at("2027-01-01T12:00:00Z")));
        assert!(is_open(&s, at("2027-01-02T12:00:00Z")));
        // The local date decides: 2026-12-25T03:00Z is still the 24th in Los Angeles.
        let la = ok(
            "America/Los_Angeles",
            &[("daily", "18:00-20:00")],
            &["2026-12-25"],
        );
        assert!(is_open(&la, at("2026-12-25T03:00:00Z")));
        assert!(!is_open(&la, at("2026-12-26T03:00:00Z")));
    }

    #[test]
    fn overnight_ranges() {
        let s = ok(
            "Europe/Berlin",
            &[("fri", "22:00-02:00"), ("sun", "20:00-04:00")],
            &[],
        );
        // 2026-07-03 is a Friday; Berlin is UTC+2 in summer.
        assert!(!is_open(&s, at("2026-07-03T21:59:00+02:00")));
        assert!(is_open(&s, at("2026-07-03T22:00:00+02:00")));
        assert!(is_open(&s, at("2026-07-04T01:59:00+02:00")));
        assert!(!is_open(&s, at("2026-07-04T02:00:00+02:00")));
        // Sunday into Monday.
        assert!(is_open(&s, at("2026-07-05T23:00:00+02:00")));
        assert!(is_open(&s, at("2026-07-06T03:59:00+02:00")));
        assert!(!is_open(&s, at("2026-07-06T04:00:00+02:00")));
        // A closed start day closes the whole range; a closed next day does not.
        let c = ok(
            "Europe/Berlin",
            &[("fri", "22:00-02:00")],
            &["2026-07-03", "2026-07-11"],
        );
        assert!(!is_open(&c, at("2026-07-03T23:00:00+02:00")));
        assert!(!is_open(&c, at("2026-07-04T01:00:00+02:00")));
        assert!(is_open(&c, at("2026-07-10T23:00:00+02:00")));
        assert!(is_open(&c, at("2026-07-11T01:00:00+02:00")));
        // An end of 00:00 means midnight.
        let m = ok("UTC", &[("mon", "18:00-00:00")], &[]);
        assert!(is_open(&m, at("2026-07-06T23:59:59Z")));
        assert!(!is_open(&m, at("2026-07-07T00:00:00Z")));
    }

    #[test]
    fn whole_day_and_closed_value() {
        let s = ok(
            "UTC",
            &[("sat", "24h"), ("sun", "closed"), ("mon", "00:00-24:00")],
            &[],
        );
        assert!(is_open(&s, at("2026-07-04T00:00:00Z")));
        assert!(is_open(&s, at("2026-07-04T23:59:59Z")));
        assert!(!is_open(&s, at("2026-07-05T00:00:00Z")));
        assert!(is_open(&s, at("2026-07-06T12:00:00Z")));
        assert_eq!(s.describe(), "mon 24h, sat 24h (UTC)");
    }

    #[test]
    fn zones_without_dst() {
        // Tehran is UTC+03:30 all year (no DST since 2022); Iranian week sat-wed.
        let tehran = ok("Asia/Tehran", &[("sat-wed", "08:00-16:00")], &[]);
        assert_eq!(at("2026-06-15T04:30:00Z").weekday(), Weekday::Mon);
        assert!(!is_open(&tehran, at("2026-06-15T04:29:00Z")));
        assert!(is_open(&tehran, at("2026-06-15T04:30:00Z")));
        assert!(!is_open(&tehran, at("2026-06-15T12:30:00Z")));
        assert!(is_open(&tehran, at("2026-01-12T04:30:00Z")));
        assert!(!is_open(&tehran, at("2026-06-18T06:00:00Z")), "thursday");
        // Seoul is UTC+9: monday 09:00 local is sunday 00:00Z.
        let seoul = ok("Asia/Seoul", &[("weekdays", "09:00-18:00")], &[]);
        assert!(!is_open(&seoul, at("2026-06-14T23:59:00Z")));
        assert!(is_open(&seoul, at("2026-06-15T00:00:00Z")));
        assert!(!is_open(&seoul, at("2026-06-15T09:00:00Z")));
    }

    #[test]
    fn accepted_syntax() {
        let s = ok(
            " europe/london ",
            &[
                ("Monday", "8:00-9:30"),
                ("TUES,thu", "08:00-12:00, 13:00-17:00"),
                ("fri-sun", "10:00-11:00"),
            ],
            &[],
        );
        assert_eq!(s.timezone(), Tz::Europe__London);
        assert_eq!(
            s.describe(),
            "mon 08:00-09:30, tue 08:00-12:00 and 13:00-17:00, thu 08:00-12:00 and 13:00-17:00, fri-sun 10:00-11:00 (Europe/London)"
        );
        let wrap = ok(
            "UTC",
            &[("sat-mon", "10:00-11:00"), ("wednesdays", "10:00-11:00")],
            &[],
        );
        assert_eq!(
            wrap.describe(),
            "mon 10:00-11:00, wed 10:00-11:00, sat-sun 10:00-11:00 (UTC)"
        );
        let named = ok(
            "UTC",
            &[("weekdays", "09:00-17:00"), ("weekends", "closed")],
            &[],
        );
        assert_eq!(named.describe(), "mon-fri 09:00-17:00 (UTC)");
        assert_eq!(
            ok("UTC", &[("daily", "24h")], &[]).describe(),
            "daily 24h (UTC)"
        );
        assert_eq!(ok("UTC", &[], &[]).describe(), "closed (UTC)");
        let example = ok(
            "America/New_York",
            &[("mon-fri", "08:00-18:00"), ("sat", "09:00-13:00")],
            &["2026-12-25", "2027-01-01"],
        );
        assert_eq!(
            example.describe(),
            "mon-fri 08:00-18:00, sat 09:00-13:00 (America/New_York)"
        );
        assert_eq!(
            ok("UTC", &[("fri", "22:00-02:00")], &[]).describe(),
            "fri 22:00-02:00 (UTC)"
        );
    }

    #[test]
    fn timezone_errors() {
        let e = &Schedule::parse("America/NewYork", &[], &[]).unwrap_err()[0];
        assert_eq!(e.to_string(), "unknown time zone `America/NewYork`");
        table(
            &[
                "America/NewYork => Timezone: unknown time zone `America/NewYork` [did you mean `America/New_York`?]",
                "new york => Timezone: unknown time zone `new york` [did you mean `America/New_York`?]",
                "Europe/Londn => Timezone: unknown time zone `Europe/Londn` [did you mean `Europe/London`?]",
                "Xyzzy/Plugh/Quux => Timezone: unknown time zone `Xyzzy/Plugh/Quux` [use an IANA name like `America/New_York`]",
                " => Timezone: missing time zone [use an IANA name like `America/New_York`]",
            ],
            |tz| errors(tz, &[], &[]),
        );
    }

    #[test]
    fn day_key_errors() {
        table(
            &[
                "mnday => WeeklyKey(1): `mnday` is not a day [did you mean `mon`?]",
                "tuseday-fri => WeeklyKey(1): `tuseday` is not a day [did you mean `tue`?]",
                "weekdys => WeeklyKey(1): `weekdys` is not a day [did you mean `weekdays`?]",
                &format!("holidays => WeeklyKey(1): `holidays` is not a day [{DAY_HINT}]"),
                &format!("sat,,sun => WeeklyKey(1): missing day in `sat,,sun` [{DAY_HINT}]"),
                &format!("mon- => WeeklyKey(1): missing day in `mon-` [{DAY_HINT}]"),
                &format!(" => WeeklyKey(1): empty day key [{DAY_HINT}]"),
                "tue => WeeklyKey(1): `tue` is already given by `mon-fri` [give each day only once]",
                "daily => WeeklyKey(1): `mon`, `tue`, `wed`, `thu`, `fri` are already given by `mon-fri` [give each day only once]",
            ],
            |key| errors("UTC", &[("mon-fri", "08:00-18:00"), (key, "24h")], &[]),
        );
        assert_eq!(
            errors(
                "UTC",
                &[("sat", "24h"), ("mon", "24h"), ("daily", "24h")],
                &[]
            ),
            [
                "WeeklyKey(2): `mon` is already given by `mon` [give each day only once]",
                "WeeklyKey(2): `sat` is already given by `sat` [give each day only once]",
            ]
        );
    }

    #[test]
    fn time_value_errors() {
        table(
            &[
                "25:00-26:00 => WeeklyValue(1): `25:00` is not a time of day (HH:MM, 00:00-24:00) [-]",
                "08:60-09:00 => WeeklyValue(1): `08:60` is not a time of day (HH:MM, 00:00-24:00) [-]",
                "08:00-24:01 => WeeklyValue(1): `24:01` is not a time of day (HH:MM, 00:00-24:00) [-]",
                "8-17 => WeeklyValue(1): `8` is not a time of day (HH:MM, 00:00-24:00) [write `08:00`]",
                "08:00-5pm => WeeklyValue(1): `5pm` is not a time of day (HH:MM, 00:00-24:00) [write `17:00`]",
                "0800-1800 => WeeklyValue(1): `0800` is not a time of day (HH:MM, 00:00-24:00) [write `08:00`]",
                "08:00-08:00 => WeeklyValue(1): `08:00-08:00` starts and ends at the same time [use `24h` for the whole day or `closed`]",
                "24:00-02:00 => WeeklyValue(1): `24:00-02:00` starts at `24:00` [a range can end at `24:00` but starts at `00:00`]",
                "08:00-12:00-13:00 => WeeklyValue(1): `08:00-12:00-13:00` is not a time range [separate ranges with a comma]",
                &format!("open => WeeklyValue(1): `open` is not a time range [{VALUE_HINT}]"),
                &format!(" => WeeklyValue(1): empty hours [{VALUE_HINT}]"),
                "08:00-12:00, 11:00-13:00 => WeeklyValue(1): `08:00-12:00` overlaps `11:00-13:00` [merge them into `08:00-13:00`]",
                "20:00-02:00, 08:00-21:00 => WeeklyValue(1): `08:00-21:00` overlaps `20:00-02:00` [merge them into `08:00-02:00`]",
                "01:00-23:00, 22:00-02:00 => WeeklyValue(1): `01:00-23:00` overlaps `22:00-02:00` [-]",
            ],
            |value| errors("UTC", &[("mon", "24h"), ("tue", value)], &[]),
        );
        // Touching ranges are fine; two bad ranges in one value are both reported.
        assert!(sched("UTC", &[("mon", "08:00-12:00, 12:00-13:00")], &[]).is_ok());
        assert_eq!(errors("UTC", &[("mon", "x, 25:00-26:00")], &[]).len(), 2);
    }

    #[test]
    fn closed_errors() {
        table(
            &[
                &format!(
                    "2026-13-01 => Closed(1): `2026-13-01` is not a date (YYYY-MM-DD) [{DATE_HINT}]"
                ),
                &format!(
                    "25/12/2026 => Closed(1): `25/12/2026` is not a date (YYYY-MM-DD) [{DATE_HINT}]"
                ),
                &format!("2026-12-24.. => Closed(1): missing date [{DATE_HINT}]"),
                "2026-12-26..2026-12-24 => Closed(1): `2026-12-26..2026-12-24` ends before it starts [write `2026-12-24..2026-12-26`]",
            ],
            |c| errors("UTC", &[], &["2026-12-25", c]),
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = sched(
            "Mars/Base",
            &[("mon", "9-5"), ("frday", "24h"), ("sat", "closed")],
            &["soon"],
        )
        .unwrap_err();
        let fields: Vec<HoursField> = errors.iter().map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            vec![
                HoursField::Timezone,
                HoursField::WeeklyValue(0),
                HoursField::WeeklyKey(1),
                HoursField::Closed(0)
            ]
        );
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for tz in [
            "America/New_York",
            "Pacific/Kiritimati",
            "Etc/GMT+12",
            "UTC",
        ] {
            let s = ok(tz, &[("daily", "22:00-02:00")], &[]);
            let _ = is_open(&s, DateTime::<Utc>::MIN_UTC);
            let _ = is_open(&s, DateTime::<Utc>::MAX_UTC);
        }
    }

    const SAMPLES: [&[(&str, &str)]; 4] = [
        &[("mon-fri", "08:00-18:00"), ("sat", "09:00-13:00")],
        &[("daily", "22:00-02:00")],
        &[
            ("fri-mon", "00:00-24:00"),
            ("wed", "07:30-12:00, 12:00-23:59"),
        ],
        &[("sun", "23:59-00:00")],
    ];

    proptest! {
        #[test]
        fn parse_never_panics(tz in "\\PC{0,24}", weekly in proptest::collection::vec(("\\PC{0,14}", "\\PC{0,30}"), 0..5), closed in proptest::collection::vec("\\PC{0,26}", 0..4)) {
            let _ = Schedule::parse(&tz, &weekly, &closed);
        }

        #[test]
        fn parse_never_panics_near_syntax(weekly in proptest::collection::vec(("[a-zA-Z,\\- ]{0,14}", "[0-9:apm,\\- ]{0,24}"), 0..5), closed in proptest::collection::vec("[0-9\\-.]{0,24}", 0..4)) {
            let _ = Schedule::parse("UTC", &weekly, &closed);
        }

        #[test]
        fn is_open_never_panics(secs in 0i64..4_102_444_800, zone in 0..chrono_tz::TZ_VARIANTS.len(), pick in 0..SAMPLES.len()) {
            let instant = DateTime::from_timestamp(secs, 0).unwrap();
            let s = ok(chrono_tz::TZ_VARIANTS[zone].name(), SAMPLES[pick], &["2026-12-24..2026-12-26"]);
            let _ = is_open(&s, instant);
            prop_assert!(is_open(&ok(s.timezone().name(), &[("daily", "24h")], &[]), instant));
            prop_assert!(!is_open(&ok(s.timezone().name(), &[("daily", "closed")], &[]), instant));
        }
    }
}
