//! Twilio's text-to-speech voices by locale: which voice speaks which locale, which
//! locale codes Twilio knows, and the voice phonetree asks for when a flow names none.
//!
//! Written from Twilio's published voice list, "Text-to-Speech":
//! <https://www.twilio.com/docs/voice/twiml/say/text-speech> (voices by language and
//! provider), with the `man`, `woman` and `alice` locales of the `<Say>` reference
//! (<https://www.twilio.com/docs/voice/twiml/say>). The voice names and `language` values
//! are those Twilio's own helper library accepts for `<Say>` and `<Gather>` (the generated
//! `SayVoice`, `SayLanguage` and `GatherLanguage` types of twilio-node's
//! `src/twiml/VoiceResponse.ts`); each Amazon Polly voice's locale is Amazon's
//! (<https://docs.aws.amazon.com/polly/latest/dg/available-voices.html>); a Google voice
//! names its locale (`Google.ko-KR-Standard-A`). The stored copy of Twilio's
//! Text-to-Speech page did not hold its table, so no Polly voice's locale here comes from
//! that page itself. Re-check the tables when Twilio adds voices.
//!
//! No voice speaks Persian (`fa-IR`): Twilio knows the locale (for speech recognition in
//! `<Gather>`) but none of its providers synthesizes it.

/// Who synthesizes a voice; each has its own `<Say>` text limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Twilio's basic voices: `man`, `woman`, `alice`.
    Basic,
    /// Amazon Polly, standard, neural or generative.
    Polly,
    /// Google Cloud text-to-speech.
    Google,
}

/// The most characters the text of one `<Say>` may take once URL-encoded (Twilio warning
/// 13521).
pub const SAY_ENCODED_LIMIT: usize = 4500;

/// The length of `text` URL-encoded: unreserved ASCII as itself, every other byte as `%XX`.
pub fn encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                1
            } else {
                3
            }
        })
        .sum()
}

impl Engine {
    /// The most text one `<Say>` of this engine takes, in UTF-8 bytes (Twilio warning
    /// 13521, <https://www.twilio.com/docs/api/errors/13521>: basic 4,096, Polly 3,000 and
    /// Google 5,000 "single byte characters").
    pub fn say_limit(self) -> usize {
        match self {
            Engine::Basic => 4096,
            Engine::Polly => 3000,
            Engine::Google => 5000,
        }
    }

    /// Whether `text` fits one `<Say>` of this engine: at most [`Engine::say_limit`] bytes,
    /// and at most [`SAY_ENCODED_LIMIT`] characters once URL-encoded (the same page), which
    /// is the tighter one for Persian or Korean (each byte of theirs encodes as three).
    pub fn say_fits(self, text: &str) -> bool {
        text.len() <= self.say_limit() && encoded_len(text) <= SAY_ENCODED_LIMIT
    }

    /// The engine of a voice name, from its prefix (`Polly.`, `Google.`); basic otherwise.
    pub fn of(voice: Option<&str>) -> Engine {
        match voice {
            Some(v) if v.starts_with("Polly.") => Engine::Polly,
            Some(v) if v.starts_with("Google.") => Engine::Google,
            _ => Engine::Basic,
        }
    }
}

/// The `language` values of Twilio's `<Say>` (twilio-node `SayLanguage`).
pub const SAY_LOCALES: &[&str] = &[
    "af-ZA",
    "am-ET",
    "ar-AE",
    "ar-XA",
    "arb",
    "bg-BG",
    "bn-IN",
    "ca-ES",
    "cmn-CN",
    "cmn-TW",
    "cs-CZ",
    "cy-GB",
    "da-DK",
    "de-AT",
    "de-DE",
    "el-GR",
    "en-AU",
    "en-CA",
    "en-GB",
    "en-GB-WLS",
    "en-IE",
    "en-IN",
    "en-NZ",
    "en-US",
    "en-ZA",
    "es-ES",
    "es-MX",
    "es-US",
    "fi-FI",
    "fil-PH",
    "fr-CA",
    "fr-FR",
    "fr-BE",
    "gu-IN",
    "he-IL",
    "hi-IN",
    "hu-HU",
    "id-ID",
    "is-IS",
    "it-IT",
    "ja-JP",
    "kn-IN",
    "ko-KR",
    "lv-LV",
    "ml-IN",
    "mr-IN",
    "ms-MY",
    "nb-NO",
    "nl-BE",
    "nl-NL",
    "pa-IN",
    "pl-PL",
    "pt-BR",
    "pt-PT",
    "ro-RO",
    "ru-RU",
    "sk-SK",
    "sr-RS",
    "sv-SE",
    "ta-IN",
    "te-IN",
    "th-TH",
    "tr-TR",
    "uk-UA",
    "vi-VN",
    "yue-HK",
    "zh-CN",
    "zh-HK",
    "zh-TW",
    "yue-CN",
];

/// The `language` values of Twilio's `<Gather>` speech recognition (twilio-node
/// `GatherLanguage`): locales Twilio knows even where no voice speaks them.
pub const GATHER_LOCALES: &[&str] = &[
    "af-ZA",
    "am-ET",
    "ar-AE",
    "ar-BH",
    "ar-DZ",
    "ar-EG",
    "ar-IL",
    "ar-IQ",
    "ar-JO",
    "ar-KW",
    "ar-LB",
    "ar-MA",
    "ar-OM",
    "ar-PS",
    "ar-QA",
    "ar-SA",
    "ar-TN",
    "az-AZ",
    "bg-BG",
    "bn-BD",
    "bn-IN",
    "ca-ES",
    "cs-CZ",
    "da-DK",
    "de-DE",
    "el-GR",
    "en-AU",
    "en-CA",
    "en-GB",
    "en-GH",
    "en-IE",
    "en-IN",
    "en-KE",
    "en-NG",
    "en-NZ",
    "en-PH",
    "en-SG",
    "en-TZ",
    "en-US",
    "en-ZA",
    "es-AR",
    "es-BO",
    "es-CL",
    "es-CO",
    "es-CR",
    "es-DO",
    "es-EC",
    "es-ES",
    "es-GT",
    "es-HN",
    "es-MX",
    "es-NI",
    "es-PA",
    "es-PE",
    "es-PR",
    "es-PY",
    "es-SV",
    "es-US",
    "es-UY",
    "es-VE",
    "et-EE",
    "eu-ES",
    "fa-IR",
    "fi-FI",
    "fil-PH",
    "fr-CA",
    "fr-FR",
    "gl-ES",
    "gu-IN",
    "he-IL",
    "hi-IN",
    "hr-HR",
    "hu-HU",
    "hy-AM",
    "id-ID",
    "is-IS",
    "it-IT",
    "ja-JP",
    "jv-ID",
    "ka-GE",
    "km-KH",
    "kn-IN",
    "ko-KR",
    "lo-LA",
    "lt-LT",
    "lv-LV",
    "mk-MK",
    "ml-IN",
    "mn-MN",
    "mr-IN",
    "ms-MY",
    "my-MM",
    "nar-IQ",
    "nb-NO",
    "ne-NP",
    "nl-BE",
    "nl-NL",
    "pa-guru-IN",
    "pl-PL",
    "pt-BR",
    "pt-PT",
    "ro-RO",
    "ru-RU",
    "si-LK",
    "sk-SK",
    "sl-SI",
    "sq-AL",
    "sr-RS",
    "su-ID",
    "sv-SE",
    "sw-KE",
    "sw-TZ",
    "ta-IN",
    "ta-LK",
    "ta-MY",
    "ta-SG",
    "te-IN",
    "th-TH",
    "tr-TR",
    "uk-UA",
    "ur-IN",
    "ur-PK",
    "uz-UZ",
    "vi-VN",
    "yue-Hant-HK",
    "zh",
    "cmn-Hans-CN",
    "zh-TW",
    "cmn-Hant-TW",
    "zu-ZA",
];

/// The short codes the basic voices take (`<Say voice="man" language="en-gb">`) and the
/// locale each stands for; also the aliases Twilio lists for Chinese.
const ALIASES: &[(&str, &str)] = &[
    ("en", "en-US"),
    ("en-gb", "en-GB"),
    ("es", "es-ES"),
    ("fr", "fr-FR"),
    ("de", "de-DE"),
    ("zh-CN", "cmn-CN"),
    ("zh-TW", "cmn-TW"),
    ("zh-HK", "yue-HK"),
];

/// Twilio's basic voices and the locales each speaks: `man` and `woman` speak English,
/// Spanish, French and German (`language` en, en-gb, es, fr, de); `alice` the locales
/// of the `<Say>` reference's alice table.
const BASIC: &[(&str, &[&str])] = &[
    ("man", &["en-US", "en-GB", "es-ES", "fr-FR", "de-DE"]),
    ("woman", &["en-US", "en-GB", "es-ES", "fr-FR", "de-DE"]),
    (
        "alice",
        &[
            "da-DK", "de-DE", "en-AU", "en-CA", "en-GB", "en-IN", "en-US", "ca-ES", "es-ES",
            "es-MX", "fi-FI", "fr-CA", "fr-FR", "it-IT", "ja-JP", "ko-KR", "nb-NO", "nl-NL",
            "pl-PL", "pt-BR", "pt-PT", "ru-RU", "sv-SE", "cmn-CN", "yue-HK", "cmn-TW",
        ],
    ),
];

/// A Polly voice's engines: `Polly.Name` (standard), `Polly.Name-Neural`,
/// `Polly.Name-Generative`.
const STANDARD: u8 = 1;
const NEURAL: u8 = 2;
const GENERATIVE: u8 = 4;

/// Amazon Polly voices Twilio offers: name, locales, engines. For each locale the first
/// voice listed is the one phonetree asks for when a flow names none.
const POLLY: &[(&str, &[&str], u8)] = &[
    ("Joanna", &["en-US"], STANDARD | NEURAL | GENERATIVE),
    ("Ivy", &["en-US"], STANDARD | NEURAL),
    ("Kendra", &["en-US"], STANDARD | NEURAL),
    ("Kimberly", &["en-US"], STANDARD | NEURAL),
    ("Salli", &["en-US"], STANDARD | NEURAL),
    ("Joey", &["en-US"], STANDARD | NEURAL),
    ("Justin", &["en-US"], STANDARD | NEURAL),
    ("Kevin", &["en-US"], STANDARD | NEURAL),
    ("Matthew", &["en-US"], STANDARD | NEURAL | GENERATIVE),
    ("Ruth", &["en-US"], NEURAL | GENERATIVE),
    ("Stephen", &["en-US"], NEURAL | GENERATIVE),
    ("Danielle", &["en-US"], NEURAL | GENERATIVE),
    ("Gregory", &["en-US"], NEURAL),
    ("Amy", &["en-GB"], STANDARD | NEURAL | GENERATIVE),
    ("Emma", &["en-GB"], STANDARD | NEURAL),
    ("Brian", &["en-GB"], STANDARD | NEURAL),
    ("Arthur", &["en-GB"], NEURAL),
    ("Nicole", &["en-AU"], STANDARD),
    ("Russell", &["en-AU"], STANDARD),
    ("Olivia", &["en-AU"], NEURAL | GENERATIVE),
    ("Aditi", &["en-IN", "hi-IN"], STANDARD),
    ("Raveena", &["en-IN"], STANDARD),
    ("Kajal", &["en-IN", "hi-IN"], NEURAL | GENERATIVE),
    ("Niamh", &["en-IE"], NEURAL),
    ("Aria", &["en-NZ"], NEURAL),
    ("Ayanda", &["en-ZA"], NEURAL | GENERATIVE),
    ("Geraint", &["en-GB-WLS"], STANDARD),
    ("Gwyneth", &["cy-GB"], STANDARD),
    ("Mia", &["es-MX"], STANDARD | NEURAL),
    ("Mía", &["es-MX"], GENERATIVE),
    ("Andres", &["es-MX"], NEURAL | GENERATIVE),
    ("Lupe", &["es-US"], STANDARD | NEURAL | GENERATIVE),
    ("Penelope", &["es-US"], STANDARD),
    ("Miguel", &["es-US"], STANDARD),
    ("Pedro", &["es-US"], NEURAL | GENERATIVE),
    ("Lucia", &["es-ES"], STANDARD | NEURAL | GENERATIVE),
    ("Conchita", &["es-ES"], STANDARD),
    ("Enrique", &["es-ES"], STANDARD),
    ("Sergio", &["es-ES"], NEURAL | GENERATIVE),
    ("Lea", &["fr-FR"], STANDARD | NEURAL | GENERATIVE),
    ("Celine", &["fr-FR"], STANDARD),
    ("Mathieu", &["fr-FR"], STANDARD),
    ("Remi", &["fr-FR"], NEURAL),
    ("Rémi", &["fr-FR"], GENERATIVE),
    ("Chantal", &["fr-CA"], STANDARD),
    ("Gabrielle", &["fr-CA"], NEURAL),
    ("Liam", &["fr-CA"], NEURAL),
    ("Isabelle", &["fr-BE"], NEURAL),
    ("Vicki", &["de-DE"], STANDARD | NEURAL | GENERATIVE),
    ("Marlene", &["de-DE"], STANDARD),
    ("Hans", &["de-DE"], STANDARD),
    ("Daniel", &["de-DE"], NEURAL | GENERATIVE),
    ("Hannah", &["de-AT"], NEURAL),
    ("Bianca", &["it-IT"], STANDARD | NEURAL | GENERATIVE),
    ("Carla", &["it-IT"], STANDARD),
    ("Giorgio", &["it-IT"], STANDARD),
    ("Adriano", &["it-IT"], NEURAL),
    ("Camila", &["pt-BR"], STANDARD | NEURAL),
    ("Vitoria", &["pt-BR"], STANDARD | NEURAL),
    ("Ricardo", &["pt-BR"], STANDARD),
    ("Thiago", &["pt-BR"], NEURAL),
    ("Ines", &["pt-PT"], STANDARD | NEURAL),
    ("Cristiano", &["pt-PT"], STANDARD),
    ("Mizuki", &["ja-JP"], STANDARD),
    ("Takumi", &["ja-JP"], STANDARD | NEURAL),
    ("Kazuha", &["ja-JP"], NEURAL),
    ("Tomoko", &["ja-JP"], NEURAL),
    ("Seoyeon", &["ko-KR"], STANDARD | NEURAL),
    ("Zhiyu", &["cmn-CN"], STANDARD | NEURAL),
    ("Hiujin", &["yue-CN"], NEURAL),
    ("Zeina", &["arb"], STANDARD),
    ("Hala", &["ar-AE"], NEURAL),
    ("Zayd", &["ar-AE"], NEURAL),
    ("Lotte", &["nl-NL"], STANDARD),
    ("Ruben", &["nl-NL"], STANDARD),
    ("Laura", &["nl-NL"], NEURAL),
    ("Lisa", &["nl-BE"], NEURAL),
    ("Naja", &["da-DK"], STANDARD),
    ("Mads", &["da-DK"], STANDARD),
    ("Sofie", &["da-DK"], NEURAL),
    ("Ewa", &["pl-PL"], STANDARD),
    ("Maja", &["pl-PL"], STANDARD),
    ("Jacek", &["pl-PL"], STANDARD),
    ("Jan", &["pl-PL"], STANDARD),
    ("Ola", &["pl-PL"], NEURAL),
    ("Liv", &["nb-NO"], STANDARD),
    ("Ida", &["nb-NO"], NEURAL),
    ("Astrid", &["sv-SE"], STANDARD),
    ("Elin", &["sv-SE"], NEURAL),
    ("Filiz", &["tr-TR"], STANDARD),
    ("Burcu", &["tr-TR"], NEURAL),
    ("Tatyana", &["ru-RU"], STANDARD),
    ("Maxim", &["ru-RU"], STANDARD),
    ("Carmen", &["ro-RO"], STANDARD),
    ("Dora", &["is-IS"], STANDARD),
    ("Karl", &["is-IS"], STANDARD),
    ("Suvi", &["fi-FI"], NEURAL),
    ("Arlet", &["ca-ES"], NEURAL),
];

/// A family of Google voices: `Google.<locale>-<family>-<letter>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoogleFamily {
    Standard,
    Wavenet,
    Neural2,
    /// Named voices rather than letters: [`CHIRP3_HD`].
    Chirp3Hd,
}

impl GoogleFamily {
    fn as_str(self) -> &'static str {
        match self {
            GoogleFamily::Standard => "Standard",
            GoogleFamily::Wavenet => "Wavenet",
            GoogleFamily::Neural2 => "Neural2",
            GoogleFamily::Chirp3Hd => "Chirp3-HD",
        }
    }
}

/// The Chirp3-HD voices of every locale that has them.
const CHIRP3_HD: [&str; 8] = [
    "Aoede", "Charon", "Fenrir", "Kore", "Leda", "Orus", "Puck", "Zephyr",
];

/// Google voices Twilio offers: locale, family and the letters of its voices.
const GOOGLE: &[(&str, GoogleFamily, &str)] = &[
    ("af-ZA", GoogleFamily::Standard, "A"),
    ("am-ET", GoogleFamily::Standard, "AB"),
    ("am-ET", GoogleFamily::Wavenet, "AB"),
    ("ar-XA", GoogleFamily::Chirp3Hd, ""),
    ("ar-XA", GoogleFamily::Standard, "ABCD"),
    ("ar-XA", GoogleFamily::Wavenet, "ABCD"),
    ("bg-BG", GoogleFamily::Standard, "AB"),
    ("bn-IN", GoogleFamily::Chirp3Hd, ""),
    ("bn-IN", GoogleFamily::Standard, "ABCD"),
    ("bn-IN", GoogleFamily::Wavenet, "ABCD"),
    ("ca-ES", GoogleFamily::Standard, "AB"),
    ("cmn-CN", GoogleFamily::Chirp3Hd, ""),
    ("cmn-CN", GoogleFamily::Standard, "ABCD"),
    ("cmn-CN", GoogleFamily::Wavenet, "ABCD"),
    ("cmn-TW", GoogleFamily::Standard, "ABC"),
    ("cmn-TW", GoogleFamily::Wavenet, "ABC"),
    ("cs-CZ", GoogleFamily::Standard, "AB"),
    ("cs-CZ", GoogleFamily::Wavenet, "AB"),
    ("da-DK", GoogleFamily::Neural2, "DF"),
    ("da-DK", GoogleFamily::Standard, "ACDEFG"),
    ("da-DK", GoogleFamily::Wavenet, "ACDEFG"),
    ("de-DE", GoogleFamily::Chirp3Hd, ""),
    ("de-DE", GoogleFamily::Neural2, "ABCDFGH"),
    ("de-DE", GoogleFamily::Standard, "ABCDEFGH"),
    ("de-DE", GoogleFamily::Wavenet, "ABCDEFGH"),
    ("el-GR", GoogleFamily::Standard, "AB"),
    ("el-GR", GoogleFamily::Wavenet, "AB"),
    ("en-AU", GoogleFamily::Chirp3Hd, ""),
    ("en-AU", GoogleFamily::Neural2, "ABCD"),
    ("en-AU", GoogleFamily::Standard, "ABCD"),
    ("en-AU", GoogleFamily::Wavenet, "ABCD"),
    ("en-GB", GoogleFamily::Chirp3Hd, ""),
    ("en-GB", GoogleFamily::Neural2, "ABCDFNO"),
    ("en-GB", GoogleFamily::Standard, "ABCDFNO"),
    ("en-GB", GoogleFamily::Wavenet, "ABCDFNO"),
    ("en-IN", GoogleFamily::Chirp3Hd, ""),
    ("en-IN", GoogleFamily::Neural2, "ABCD"),
    ("en-IN", GoogleFamily::Standard, "ABCDEF"),
    ("en-IN", GoogleFamily::Wavenet, "ABCDEF"),
    ("en-US", GoogleFamily::Chirp3Hd, ""),
    ("en-US", GoogleFamily::Neural2, "ACDEFGHIJ"),
    ("en-US", GoogleFamily::Standard, "ABCDEFGHIJ"),
    ("en-US", GoogleFamily::Wavenet, "ABCDEFGHIJ"),
    ("es-ES", GoogleFamily::Chirp3Hd, ""),
    ("es-ES", GoogleFamily::Neural2, "ABCDEFGH"),
    ("es-ES", GoogleFamily::Standard, "ABCDEFGH"),
    ("es-ES", GoogleFamily::Wavenet, "BCDEFGH"),
    ("es-US", GoogleFamily::Chirp3Hd, ""),
    ("es-US", GoogleFamily::Neural2, "ABC"),
    ("es-US", GoogleFamily::Standard, "ABC"),
    ("es-US", GoogleFamily::Wavenet, "ABC"),
    ("eu-ES", GoogleFamily::Standard, "AB"),
    ("fi-FI", GoogleFamily::Standard, "AB"),
    ("fi-FI", GoogleFamily::Wavenet, "AB"),
    ("fil-ph", GoogleFamily::Neural2, "AD"),
    ("fil-PH", GoogleFamily::Standard, "ABCD"),
    ("fil-PH", GoogleFamily::Wavenet, "ABCD"),
    ("fr-CA", GoogleFamily::Chirp3Hd, ""),
    ("fr-CA", GoogleFamily::Neural2, "ABCD"),
    ("fr-CA", GoogleFamily::Standard, "ABCD"),
    ("fr-CA", GoogleFamily::Wavenet, "ABCD"),
    ("fr-FR", GoogleFamily::Chirp3Hd, ""),
    ("fr-FR", GoogleFamily::Neural2, "ABCDEFG"),
    ("fr-FR", GoogleFamily::Standard, "ABCDEFG"),
    ("fr-FR", GoogleFamily::Wavenet, "ABCDEFG"),
    ("gl-ES", GoogleFamily::Standard, "AB"),
    ("gu-IN", GoogleFamily::Chirp3Hd, ""),
    ("gu-IN", GoogleFamily::Standard, "ABCD"),
    ("gu-IN", GoogleFamily::Wavenet, "ABCD"),
    ("he-IL", GoogleFamily::Standard, "ABCD"),
    ("he-IL", GoogleFamily::Wavenet, "ABCD"),
    ("hi-IN", GoogleFamily::Chirp3Hd, ""),
    ("hi-IN", GoogleFamily::Neural2, "ABCD"),
    ("hi-IN", GoogleFamily::Standard, "ABCDEF"),
    ("hi-IN", GoogleFamily::Wavenet, "ABCDEF"),
    ("hu-HU", GoogleFamily::Standard, "AB"),
    ("hu-HU", GoogleFamily::Wavenet, "A"),
    ("id-ID", GoogleFamily::Chirp3Hd, ""),
    ("id-ID", GoogleFamily::Standard, "ABCD"),
    ("id-ID", GoogleFamily::Wavenet, "ABCD"),
    ("is-IS", GoogleFamily::Standard, "AB"),
    ("it-IT", GoogleFamily::Chirp3Hd, ""),
    ("it-IT", GoogleFamily::Neural2, "ACF"),
    ("it-IT", GoogleFamily::Standard, "ABCDEF"),
    ("it-IT", GoogleFamily::Wavenet, "ABCDEF"),
    ("ja-JP", GoogleFamily::Chirp3Hd, ""),
    ("ja-JP", GoogleFamily::Neural2, "BCD"),
    ("ja-JP", GoogleFamily::Standard, "ABCD"),
    ("ja-JP", GoogleFamily::Wavenet, "ABCD"),
    ("kn-IN", GoogleFamily::Chirp3Hd, ""),
    ("kn-IN", GoogleFamily::Standard, "ABCD"),
    ("kn-IN", GoogleFamily::Wavenet, "ABCD"),
    ("ko-KR", GoogleFamily::Chirp3Hd, ""),
    ("ko-KR", GoogleFamily::Neural2, "ABC"),
    ("ko-KR", GoogleFamily::Standard, "ABCD"),
    ("ko-KR", GoogleFamily::Wavenet, "ABCD"),
    ("lt-LT", GoogleFamily::Standard, "AB"),
    ("lv-LV", GoogleFamily::Standard, "AB"),
    ("ml-IN", GoogleFamily::Chirp3Hd, ""),
    ("ml-IN", GoogleFamily::Standard, "ABCD"),
    ("ml-IN", GoogleFamily::Wavenet, "ABCD"),
    ("mr-IN", GoogleFamily::Chirp3Hd, ""),
    ("mr-IN", GoogleFamily::Standard, "ABC"),
    ("mr-IN", GoogleFamily::Wavenet, "ABC"),
    ("ms-MY", GoogleFamily::Standard, "ABCD"),
    ("ms-MY", GoogleFamily::Wavenet, "ABCD"),
    ("nb-NO", GoogleFamily::Standard, "ABCDEFG"),
    ("nb-NO", GoogleFamily::Wavenet, "ABCDEFG"),
    ("nl-BE", GoogleFamily::Standard, "ABCD"),
    ("nl-BE", GoogleFamily::Wavenet, "ABCD"),
    ("nl-NL", GoogleFamily::Chirp3Hd, ""),
    ("nl-NL", GoogleFamily::Standard, "ABCDEFG"),
    ("nl-NL", GoogleFamily::Wavenet, "ABCDEFG"),
    ("pa-IN", GoogleFamily::Standard, "ABCD"),
    ("pa-IN", GoogleFamily::Wavenet, "ABCD"),
    ("pl-PL", GoogleFamily::Chirp3Hd, ""),
    ("pl-PL", GoogleFamily::Standard, "ABCDEFG"),
    ("pl-PL", GoogleFamily::Wavenet, "ABCDEFG"),
    ("pt-BR", GoogleFamily::Chirp3Hd, ""),
    ("pt-BR", GoogleFamily::Neural2, "ABC"),
    ("pt-BR", GoogleFamily::Standard, "ABCDE"),
    ("pt-BR", GoogleFamily::Wavenet, "ABCDE"),
    ("pt-PT", GoogleFamily::Standard, "ABCDEF"),
    ("pt-PT", GoogleFamily::Wavenet, "ABCDEF"),
    ("ro-RO", GoogleFamily::Standard, "AB"),
    ("ro-RO", GoogleFamily::Wavenet, "AB"),
    ("ru-RU", GoogleFamily::Chirp3Hd, ""),
    ("ru-RU", GoogleFamily::Standard, "ABCDE"),
    ("ru-RU", GoogleFamily::Wavenet, "ABCDE"),
    ("sk-SK", GoogleFamily::Standard, "AB"),
    ("sk-SK", GoogleFamily::Wavenet, "AB"),
    ("sr-RS", GoogleFamily::Standard, "A"),
    ("sv-SE", GoogleFamily::Standard, "ABCDEFG"),
    ("sv-SE", GoogleFamily::Wavenet, "ABCDEFG"),
    ("ta-IN", GoogleFamily::Chirp3Hd, ""),
    ("ta-IN", GoogleFamily::Standard, "ABCD"),
    ("ta-IN", GoogleFamily::Wavenet, "ABCD"),
    ("te-IN", GoogleFamily::Chirp3Hd, ""),
    ("te-IN", GoogleFamily::Standard, "ABCD"),
    ("th-TH", GoogleFamily::Chirp3Hd, ""),
    ("th-TH", GoogleFamily::Neural2, "C"),
    ("th-TH", GoogleFamily::Standard, "A"),
    ("tr-TR", GoogleFamily::Chirp3Hd, ""),
    ("tr-TR", GoogleFamily::Standard, "ABCDE"),
    ("tr-TR", GoogleFamily::Wavenet, "ABCDE"),
    ("uk-UA", GoogleFamily::Standard, "A"),
    ("uk-UA", GoogleFamily::Wavenet, "A"),
    ("vi-VN", GoogleFamily::Chirp3Hd, ""),
    ("vi-VN", GoogleFamily::Neural2, "AD"),
    ("vi-VN", GoogleFamily::Standard, "ABCD"),
    ("vi-VN", GoogleFamily::Wavenet, "ABCD"),
    ("yue-HK", GoogleFamily::Standard, "ABCD"),
];

/// The locale phonetree assumes for a language code when a flow gives none (`en` is
/// `en-US`); a code not listed here stands for itself when Twilio knows it (`en-GB`).
const DEFAULT_LOCALES: &[(&str, &str)] = &[
    ("af", "af-ZA"),
    ("am", "am-ET"),
    ("ar", "arb"),
    ("bg", "bg-BG"),
    ("bn", "bn-IN"),
    ("ca", "ca-ES"),
    ("cs", "cs-CZ"),
    ("cy", "cy-GB"),
    ("da", "da-DK"),
    ("de", "de-DE"),
    ("el", "el-GR"),
    ("en", "en-US"),
    ("es", "es-MX"),
    ("eu", "eu-ES"),
    ("fa", "fa-IR"),
    ("fi", "fi-FI"),
    ("fil", "fil-PH"),
    ("fr", "fr-FR"),
    ("gl", "gl-ES"),
    ("gu", "gu-IN"),
    ("he", "he-IL"),
    ("hi", "hi-IN"),
    ("hu", "hu-HU"),
    ("id", "id-ID"),
    ("is", "is-IS"),
    ("it", "it-IT"),
    ("ja", "ja-JP"),
    ("kn", "kn-IN"),
    ("ko", "ko-KR"),
    ("lt", "lt-LT"),
    ("lv", "lv-LV"),
    ("ml", "ml-IN"),
    ("mr", "mr-IN"),
    ("ms", "ms-MY"),
    ("nb", "nb-NO"),
    ("nl", "nl-NL"),
    ("no", "nb-NO"),
    ("pa", "pa-IN"),
    ("pl", "pl-PL"),
    ("pt", "pt-BR"),
    ("ro", "ro-RO"),
    ("ru", "ru-RU"),
    ("sk", "sk-SK"),
    ("sr", "sr-RS"),
    ("sv", "sv-SE"),
    ("ta", "ta-IN"),
    ("te", "te-IN"),
    ("th", "th-TH"),
    ("tl", "fil-PH"),
    ("tr", "tr-TR"),
    ("uk", "uk-UA"),
    ("ur", "ur-PK"),
    ("vi", "vi-VN"),
    ("yue", "yue-HK"),
    ("zh", "cmn-CN"),
];

/// The locale a voice-matching comparison uses: an alias's locale, else the code itself.
fn speech_locale(locale: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(locale))
        .map_or(locale, |(_, full)| full)
}

fn same_locale(a: &str, b: &str) -> bool {
    speech_locale(a).eq_ignore_ascii_case(speech_locale(b))
}

/// Every locale code Twilio knows, in its own spelling: `<Say>` and `<Gather>` languages,
/// the locales of its voices and the short codes of the basic voices.
pub fn known_locales() -> impl Iterator<Item = &'static str> {
    SAY_LOCALES
        .iter()
        .chain(GATHER_LOCALES)
        .copied()
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .chain(
            POLLY
                .iter()
                .flat_map(|(_, locales, _)| locales.iter().copied()),
        )
        .chain(GOOGLE.iter().map(|(locale, _, _)| *locale))
}

/// The spelling Twilio uses for a locale code written in any letter case; `None` for a
/// code Twilio does not know.
pub fn known_locale(code: &str) -> Option<&'static str> {
    known_locales()
        .find(|l| *l == code)
        .or_else(|| known_locales().find(|l| l.eq_ignore_ascii_case(code)))
}

/// The locale of a language code that has none in the flow (`fa` is `fa-IR`); `None` when
/// phonetree cannot tell.
pub fn default_locale(language: &str) -> Option<&'static str> {
    DEFAULT_LOCALES
        .iter()
        .find(|(code, _)| code.eq_ignore_ascii_case(language))
        .map(|(_, locale)| *locale)
        .or_else(|| known_locale(language))
}

/// A Twilio voice: its name (`Polly.Joanna-Neural`), who synthesizes it and the locales
/// it speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    /// The `voice` attribute value.
    pub name: String,
    /// Who synthesizes it.
    pub engine: Engine,
    /// The locales it speaks.
    pub locales: Vec<&'static str>,
}

/// Every voice Twilio offers, in table order (for each locale its default first).
pub fn all_voices() -> Vec<Voice> {
    let mut out = Vec::new();
    for (name, locales, engines) in POLLY {
        for (flag, suffix) in [
            (STANDARD, ""),
            (NEURAL, "-Neural"),
            (GENERATIVE, "-Generative"),
        ] {
            if engines & flag != 0 {
                out.push(Voice {
                    name: format!("Polly.{name}{suffix}"),
                    engine: Engine::Polly,
                    locales: locales.to_vec(),
                });
            }
        }
    }
    for (locale, family, letters) in GOOGLE {
        let names: Vec<String> = match family {
            GoogleFamily::Chirp3Hd => CHIRP3_HD.iter().map(|n| (*n).to_owned()).collect(),
            _ => letters.chars().map(String::from).collect(),
        };
        for n in names {
            out.push(Voice {
                name: format!("Google.{locale}-{}-{n}", family.as_str()),
                engine: Engine::Google,
                locales: vec![locale],
            });
        }
    }
    for (name, locales) in BASIC {
        out.push(Voice {
            name: (*name).to_owned(),
            engine: Engine::Basic,
            locales: locales.to_vec(),
        });
    }
    out
}

/// The voice behind a `voice` value, if Twilio offers it.
pub fn voice(name: &str) -> Option<Voice> {
    // Google voices name their locale; the rest are looked up by name.
    all_voices().into_iter().find(|v| v.name == name)
}

/// The voices that speak a locale, the one phonetree picks by default first.
pub fn voices_for(locale: &str) -> Vec<Voice> {
    let mut voices: Vec<Voice> = all_voices()
        .into_iter()
        .filter(|v| v.locales.iter().any(|l| same_locale(l, locale)))
        .collect();
    // A basic voice is the default only where nothing better speaks the locale.
    voices.sort_by_key(|v| v.engine == Engine::Basic);
    voices
}

/// The voice phonetree asks for in a locale when the flow names none: the first Polly
/// voice of the table for it (standard before neural), else the first Google voice, else
/// a basic one; `None` when no voice speaks it.
pub fn default_voice(locale: &str) -> Option<String> {
    let voices = voices_for(locale);
    voices
        .iter()
        .find(|v| v.engine == Engine::Polly && !v.name.contains('-'))
        .or_else(|| voices.first())
        .map(|v| v.name.clone())
}

/// True when `voice` speaks `locale`.
pub fn speaks(voice: &Voice, locale: &str) -> bool {
    voice.locales.iter().any(|l| same_locale(l, locale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_voice_speaks_persian_though_twilio_knows_the_locale() {
        assert_eq!(known_locale("fa-IR"), Some("fa-IR"));
        assert!(voices_for("fa-IR").is_empty());
        assert_eq!(default_voice("fa-IR"), None);
        assert_eq!(default_locale("fa"), Some("fa-IR"));
    }

    #[test]
    fn voices_speak_their_own_locale_only() {
        let lupe = voice("Polly.Lupe").expect("a Polly voice");
        assert_eq!(lupe.locales, ["es-US"]);
        assert!(!speaks(&lupe, "es-MX"));
        let mx: Vec<String> = voices_for("es-MX").into_iter().map(|v| v.name).collect();
        assert_eq!(
            mx[..4],
            [
                "Polly.Mia",
                "Polly.Mia-Neural",
                "Polly.Mía-Generative",
                "Polly.Andres-Neural"
            ]
        );
        assert!(mx.contains(&"alice".to_owned()));
        let google = voice("Google.ko-KR-Wavenet-B").expect("a Google voice");
        assert_eq!(google.engine, Engine::Google);
        assert!(speaks(&google, "ko-KR"));
        assert!(voice("Google.ko-KR-Wavenet-Z").is_none());
        assert!(voice("Polly.Jonna").is_none());
        let man = voice("man").expect("basic");
        assert!(speaks(&man, "en-gb") && speaks(&man, "en-US") && !speaks(&man, "ko-KR"));
    }

    #[test]
    fn every_locale_with_a_voice_has_a_default_that_speaks_it() {
        assert_eq!(default_voice("en-US").as_deref(), Some("Polly.Joanna"));
        assert_eq!(default_voice("ko-KR").as_deref(), Some("Polly.Seoyeon"));
        assert_eq!(default_voice("es-MX").as_deref(), Some("Polly.Mia"));
        assert_eq!(default_voice("fi-FI").as_deref(), Some("Polly.Suvi-Neural"));
        assert_eq!(
            default_voice("he-IL").as_deref(),
            Some("Google.he-IL-Standard-A")
        );
        for v in all_voices() {
            for locale in &v.locales {
                assert!(known_locale(locale).is_some(), "{locale} of {}", v.name);
                let default = default_voice(locale).expect("a default");
                assert!(speaks(&voice(&default).expect("known"), locale), "{locale}");
            }
        }
    }

    #[test]
    fn locale_codes_are_known_in_any_letter_case_and_default_by_language() {
        assert_eq!(known_locale("ko-kr"), Some("ko-KR"));
        assert_eq!(known_locale("en-UK"), None);
        assert_eq!(known_locale("en-gb"), Some("en-gb"));
        assert_eq!(default_locale("en"), Some("en-US"));
        assert_eq!(default_locale("en-GB"), Some("en-GB"));
        assert_eq!(default_locale("ko"), Some("ko-KR"));
        assert_eq!(default_locale("klingon"), None);
        assert_eq!(Engine::of(Some("Polly.Mia")).say_limit(), 3000);
        assert_eq!(Engine::of(None).say_limit(), 4096);
    }
}
