//! Numbers and amounts read from recorded fragments, by each language's own rules, the
//! way classic IVRs compose them (Asterisk's `SayNumber` with per-language sound sets,
//! FreeSWITCH's say modules).
//!
//! A language's fragments live in `prompts/<lang>/numbers/`, one WAV per fragment,
//! named by [`NumberRules::number_fragments`] and [`NumberRules::amount_fragments`]: a
//! fragment that says a number on its own is named by that number (`7.wav`, `20.wav`,
//! `200.wav` for Persian "دویست", `10000.wav` for Korean "만"), the rest by a word
//! (`and.wav` for Persian "و", `hundred.wav`, `thousand.wav`, `currency.wav`).
//!
//! Numbers from 0 to [`MAX_NUMBER`] are composed; anything else is not a number these
//! rules read (the caller of [`NumberRules::number`] falls back to digits or text).

/// The largest number composed from fragments: 999,999,999,999.
pub const MAX_NUMBER: u64 = 999_999_999_999;

/// How a language reads numbers from recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberRules {
    /// English (US usage, no "and"): "one thousand two hundred thirty four".
    English,
    /// Persian: hundreds as one word (صد، دویست، سیصد ...), parts joined with "و", 1,000
    /// as "هزار" alone: "هزار و دویست و سی و چهار".
    Persian,
    /// Sino-Korean: 일 이 삼 ... with 십 백 천 and the four-digit groups 만 and 억; 일 is
    /// dropped before 십, 백, 천 and 만: "천이백삼십사", "이백만".
    Korean,
}

impl NumberRules {
    /// The rules for a language code (`fa`, `ko`, `en-US`); `None` for a language
    /// phonetree has no number rules for.
    pub fn for_language(code: &str) -> Option<NumberRules> {
        let base = code.split(['-', '_']).next().unwrap_or(code);
        match base.to_ascii_lowercase().as_str() {
            "en" => Some(NumberRules::English),
            "fa" => Some(NumberRules::Persian),
            "ko" => Some(NumberRules::Korean),
            _ => None,
        }
    }

    /// The language's name, for messages.
    pub fn language(self) -> &'static str {
        match self {
            NumberRules::English => "English",
            NumberRules::Persian => "Persian",
            NumberRules::Korean => "Korean",
        }
    }

    /// Every fragment [`NumberRules::number`] may name, in reading order of the table.
    pub fn number_fragments(self) -> Vec<String> {
        let n = |v: u64| v.to_string();
        let mut out = Vec::new();
        match self {
            NumberRules::English => {
                out.extend((0..20).map(n));
                out.extend((2..10).map(|t| n(t * 10)));
                out.extend(["hundred", "thousand", "million", "billion"].map(String::from));
            }
            NumberRules::Persian => {
                out.extend((0..20).map(n));
                out.extend((2..10).map(|t| n(t * 10)));
                out.extend((1..10).map(|h| n(h * 100)));
                out.extend(["thousand", "million", "billion", "and"].map(String::from));
            }
            NumberRules::Korean => {
                out.extend((0..10).map(n));
                out.extend([10, 100, 1000, 10_000, 100_000_000].map(n));
            }
        }
        out
    }

    /// The fragments an amount needs besides [`NumberRules::number_fragments`]: the
    /// currency's unit (`currency`, and `currency_one` where one takes the singular) and
    /// its hundredth (`cents`, `cent`), and the word joining them.
    pub fn amount_fragments(self) -> Vec<String> {
        let words: &[&str] = match self {
            NumberRules::English => &["currency", "currency_one", "cents", "cent", "and"],
            NumberRules::Persian => &["currency", "cents"],
            NumberRules::Korean => &["currency", "cents"],
        };
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// The fragments that say `n`, in order; `None` above [`MAX_NUMBER`].
    pub fn number(self, n: u64) -> Option<Vec<String>> {
        if n > MAX_NUMBER {
            return None;
        }
        if n == 0 {
            return Some(vec!["0".to_owned()]);
        }
        Some(match self {
            NumberRules::English => english(n),
            NumberRules::Persian => persian(n),
            NumberRules::Korean => korean(n),
        })
    }

    /// The fragments that say an amount: the whole units and the currency, then the
    /// hundredths and their name when there are any (none of the units when there are
    /// only hundredths); `None` when the whole part is above [`MAX_NUMBER`].
    pub fn amount(self, amount: Amount) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let cents = u64::from(amount.cents);
        if amount.whole > 0 || cents == 0 {
            out.extend(self.number(amount.whole)?);
            let one = amount.whole == 1 && self == NumberRules::English;
            out.push(if one { "currency_one" } else { "currency" }.to_owned());
        }
        if cents > 0 {
            if !out.is_empty() && self != NumberRules::Korean {
                out.push("and".to_owned());
            }
            out.extend(self.number(cents)?);
            let one = cents == 1 && self == NumberRules::English;
            out.push(if one { "cent" } else { "cents" }.to_owned());
        }
        Some(out)
    }
}

/// Below 1,000 in English: "two hundred thirty four".
fn english_below_1000(n: u64, out: &mut Vec<String>) {
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        out.push(hundreds.to_string());
        out.push("hundred".to_owned());
    }
    if rest >= 20 {
        out.push((rest / 10 * 10).to_string());
        if !rest.is_multiple_of(10) {
            out.push((rest % 10).to_string());
        }
    } else if rest > 0 {
        out.push(rest.to_string());
    }
}

/// The groups of three digits English and Persian name, largest first, with the fragment
/// said after each (none for the units).
const GROUPS: [(u64, Option<&str>); 4] = [
    (1_000_000_000, Some("billion")),
    (1_000_000, Some("million")),
    (1_000, Some("thousand")),
    (1, None),
];

fn english(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    for (scale, word) in GROUPS {
        let group = n / scale % 1000;
        if group > 0 {
            english_below_1000(group, &mut out);
            out.extend(word.map(String::from));
        }
    }
    out
}

/// Below 1,000 in Persian: the hundreds word, the tens and the ones, joined with "و".
fn persian_below_1000(n: u64) -> Vec<String> {
    let (hundreds, rest) = (n / 100, n % 100);
    let mut parts = Vec::new();
    if hundreds > 0 {
        parts.push((hundreds * 100).to_string());
    }
    if rest >= 20 {
        parts.push((rest / 10 * 10).to_string());
        if !rest.is_multiple_of(10) {
            parts.push((rest % 10).to_string());
        }
    } else if rest > 0 {
        parts.push(rest.to_string());
    }
    joined(parts.into_iter().map(|p| vec![p]))
}

/// Parts joined with "و" (`and`).
fn joined(parts: impl Iterator<Item = Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for part in parts {
        if !out.is_empty() {
            out.push("and".to_owned());
        }
        out.extend(part);
    }
    out
}

fn persian(n: u64) -> Vec<String> {
    let mut groups = Vec::new();
    for (scale, word) in GROUPS {
        let group = n / scale % 1000;
        if group == 0 {
            continue;
        }
        // One thousand is "هزار" alone; a million and a billion keep their "یک".
        let mut part = if group == 1 && word == Some("thousand") {
            Vec::new()
        } else {
            persian_below_1000(group)
        };
        part.extend(word.map(String::from));
        groups.push(part);
    }
    joined(groups.into_iter())
}

/// Below 10,000 in Sino-Korean: 천, 백, 십 each after its digit, 일 dropped before them.
fn korean_below_10000(n: u64, out: &mut Vec<String>) {
    for unit in [1000, 100, 10] {
        let digit = n / unit % 10;
        if digit > 1 {
            out.push(digit.to_string());
        }
        if digit > 0 {
            out.push(unit.to_string());
        }
    }
    if !n.is_multiple_of(10) {
        out.push((n % 10).to_string());
    }
}

fn korean(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    let (eok, man, rest) = (n / 100_000_000, n / 10_000 % 10_000, n % 10_000);
    if eok > 0 {
        // 억 keeps its 일: 일억.
        if eok == 1 {
            out.push("1".to_owned());
        } else {
            korean_below_10000(eok, &mut out);
        }
        out.push("100000000".to_owned());
    }
    if man > 0 {
        // 만 drops it: 만, 이만, but 십만 and 천일만 as any group.
        if man > 1 {
            korean_below_10000(man, &mut out);
        }
        out.push("10000".to_owned());
    }
    korean_below_10000(rest, &mut out);
    out
}

/// A decimal digit written in ASCII or in Persian or Arabic-Indic digits.
pub fn digit_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        '\u{06F0}'..='\u{06F9}' => Some(c as u32 - 0x06F0),
        '\u{0660}'..='\u{0669}' => Some(c as u32 - 0x0660),
        _ => None,
    }
}

/// A whole number as a lookup or a caller gives it: digits (any of [`digit_value`]'s),
/// optionally grouped with `,` or spaces; `None` for anything else.
pub fn parse_number(text: &str) -> Option<u64> {
    let mut n: u64 = 0;
    let mut any = false;
    for c in text.trim().chars() {
        if matches!(c, ',' | ' ' | '\u{066C}') {
            continue;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit_value(c)?))?;
        any = true;
    }
    any.then_some(n)
}

/// An amount of money: whole units and hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    /// Whole units (dollars).
    pub whole: u64,
    /// Hundredths (cents), 0 to 99.
    pub cents: u32,
}

impl Amount {
    /// Reads `42`, `42.5`, `42.50` or `1,234.50`; `None` for a negative amount, more than
    /// two decimals or anything that is not a number.
    pub fn parse(text: &str) -> Option<Amount> {
        let text = text.trim();
        let (whole, fraction) = match text.split_once(['.', '\u{066B}']) {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if fraction.chars().count() > 2 {
            return None;
        }
        let whole = if whole.is_empty() && !fraction.is_empty() {
            0
        } else {
            parse_number(whole)?
        };
        let mut cents = 0;
        for (i, c) in fraction.chars().enumerate() {
            let d = digit_value(c)?;
            cents += d * if i == 0 { 10 } else { 1 };
        }
        Some(Amount { whole, cents })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(rules: NumberRules, n: u64) -> String {
        rules.number(n).expect("in range").join(" ")
    }

    /// English, from the grammar of US usage: tens and ones side by side (twenty one),
    /// "hundred", "thousand", "million" after their count, no "and".
    #[test]
    fn english_numbers() {
        let table: [(u64, &str); 12] = [
            (0, "0"),
            (7, "7"),
            (19, "19"),
            (20, "20"),
            (21, "20 1"),
            (105, "1 hundred 5"),
            (110, "1 hundred 10"),
            (1_234, "1 thousand 2 hundred 30 4"),
            (2_000_000, "2 million"),
            (1_000_005, "1 million 5"),
            (40_019, "40 thousand 19"),
            (
                999_999_999_999,
                "9 hundred 90 9 billion 9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9",
            ),
        ];
        for (n, words) in table {
            assert_eq!(say(NumberRules::English, n), words, "{n}");
        }
    }

    /// Persian, from its grammar: صفر; یک to نوزده; بیست و یک; صد و پنج; the hundreds are
    /// one word each (دویست, سیصد); هزار alone for 1,000 (هزار و دویست و سی و چهار);
    /// دو میلیون; یک میلیون keeps its یک; every part joined with و.
    #[test]
    fn persian_numbers() {
        let table: [(u64, &str); 14] = [
            (0, "0"),                                 // صفر
            (7, "7"),                                 // هفت
            (19, "19"),                               // نوزده
            (20, "20"),                               // بیست
            (21, "20 and 1"),                         // بیست و یک
            (105, "100 and 5"),                       // صد و پنج
            (200, "200"),                             // دویست
            (315, "300 and 15"),                      // سیصد و پانزده
            (1_000, "thousand"),                      // هزار
            (1_234, "thousand and 200 and 30 and 4"), // هزار و دویست و سی و چهار
            (2_000, "2 thousand"),                    // دو هزار
            (21_000, "20 and 1 thousand"),            // بیست و یک هزار
            (2_000_000, "2 million"),                 // دو میلیون
            (1_000_001, "1 million and 1"),           // یک میلیون و یک
        ];
        for (n, words) in table {
            assert_eq!(say(NumberRules::Persian, n), words, "{n}");
        }
        assert_eq!(
            say(NumberRules::Persian, 3_500_250_000),
            // سه میلیارد و پانصد میلیون و دویست و پنجاه هزار
            "3 billion and 500 million and 200 and 50 thousand"
        );
    }

    /// Sino-Korean, from its grammar: 영; 일 to 구; 십, 이십, 이십일; 백오; 천이백삼십사;
    /// 만 and 억 group four digits; 일 dropped before 십, 백, 천 and 만, kept before 억.
    #[test]
    fn korean_numbers() {
        let table: [(u64, &str); 14] = [
            (0, "0"),                                  // 영
            (7, "7"),                                  // 칠
            (10, "10"),                                // 십
            (19, "10 9"),                              // 십구
            (20, "2 10"),                              // 이십
            (21, "2 10 1"),                            // 이십일
            (105, "100 5"),                            // 백오
            (1_234, "1000 2 100 3 10 4"),              // 천이백삼십사
            (10_000, "10000"),                         // 만
            (12_345, "10000 2 1000 3 100 4 10 5"),     // 만 이천삼백사십오
            (100_000, "10 10000"),                     // 십만
            (2_000_000, "2 100 10000"),                // 이백만
            (100_000_000, "1 100000000"),              // 일억
            (110_010_000, "1 100000000 1000 1 10000"), // 일억 천일만 (1억 1001만)
        ];
        for (n, words) in table {
            assert_eq!(say(NumberRules::Korean, n), words, "{n}");
        }
    }

    #[test]
    fn every_fragment_a_number_names_is_in_the_table() {
        for rules in [
            NumberRules::English,
            NumberRules::Persian,
            NumberRules::Korean,
        ] {
            let table = rules.number_fragments();
            for n in (0..2_000).chain([12_345, 99_999, 1_000_000, 987_654_321, MAX_NUMBER]) {
                for f in rules.number(n).expect("in range") {
                    assert!(table.contains(&f), "{rules:?} {n}: {f}");
                }
            }
            assert_eq!(rules.number(MAX_NUMBER + 1), None);
        }
    }

    #[test]
    fn amounts_say_units_then_hundredths() {
        let amount = |s: &str| Amount::parse(s).expect(s);
        let en = |s: &str| NumberRules::English.amount(amount(s)).unwrap().join(" ");
        assert_eq!(en("42.50"), "40 2 currency and 50 cents");
        assert_eq!(en("1.01"), "1 currency_one and 1 cent");
        assert_eq!(en("0.75"), "70 5 cents");
        assert_eq!(en("0"), "0 currency");
        let fa = NumberRules::Persian
            .amount(amount("1,234.5"))
            .unwrap()
            .join(" ");
        // هزار و دویست و سی و چهار دلار و پنجاه سنت
        assert_eq!(fa, "thousand and 200 and 30 and 4 currency and 50 cents");
        let ko = NumberRules::Korean
            .amount(amount("42.50"))
            .unwrap()
            .join(" ");
        // 사십이 달러 오십 센트
        assert_eq!(ko, "4 10 2 currency 5 10 cents");
        assert_eq!(
            amount("۴۲٫۵۰"),
            Amount {
                whole: 42,
                cents: 50
            }
        );
        for bad in ["", "-3", "1.234", "4a", "1..2"] {
            assert_eq!(Amount::parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse_number("1,234"), Some(1234));
        assert_eq!(parse_number("۱۲۳"), Some(123));
        assert_eq!(parse_number("12.5"), None);
    }
}
