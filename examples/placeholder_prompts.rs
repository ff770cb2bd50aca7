//! Writes stand-in recordings for a language: short tones, one per file, so that a flow
//! can be checked, tested and tried before a speaker records the real prompts.
//!
//! ```sh
//! # prompts/fa/digits/0.wav..9.wav, every fragment of prompts/fa/numbers/, and one file
//! # per prompt id given (prompts/fa/main_menu.wav ...):
//! cargo run --example placeholder_prompts -- prompts fa main_menu goodbye
//! # only some number fragments (a partial set, as a test fixture has it):
//! cargo run --example placeholder_prompts -- --numbers 0,1,2 tests/fixtures/prompts ko
//! ```
//!
//! Each file is telephony-ready (mono, 8 kHz, 16-bit PCM) and tiny: a 0.1 s tone for a
//! digit or number fragment, 0.25 s for a prompt, its pitch set by its name so that two
//! fragments played in a row are told apart. The Persian recordings shipped under
//! `prompts/fa/` were made this way; they stand in for a speaker's and say nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use phonetree::flow::numbers::NumberRules;

const RATE: u32 = 8000;

fn tone(path: &Path, name: &str, seconds: f32) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // A pitch from the name: FNV-1a, folded onto 300..1100 Hz.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let pitch = 300.0 + (hash % 800) as f32;
    let samples = (RATE as f32 * seconds) as u32;
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("writing {}", path.display()))?;
    for i in 0..samples {
        let t = i as f32 / RATE as f32;
        // 10 ms fades at both ends, so that fragments join without clicks.
        let edge = (i.min(samples - 1 - i) as f32 / (RATE as f32 * 0.01)).min(1.0);
        let s = (t * pitch * std::f32::consts::TAU).sin() * 6000.0 * edge;
        w.write_sample(s as i16)?;
    }
    w.finalize()?;
    Ok(())
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let only: Option<Vec<String>> = match args.iter().position(|a| a == "--numbers") {
        Some(i) if i + 1 < args.len() => {
            let list = args.remove(i + 1);
            args.remove(i);
            Some(list.split(',').map(str::to_owned).collect())
        }
        Some(_) => bail!("--numbers needs a list, e.g. --numbers 0,1,2"),
        None => None,
    };
    let [prompts, lang, ids @ ..] = args.as_slice() else {
        bail!("usage: placeholder_prompts [--numbers A,B,..] PROMPTS_DIR LANG [PROMPT_ID...]");
    };
    let dir = PathBuf::from(prompts).join(lang);
    let mut written = 0;
    if only.is_none() {
        for d in 0..10 {
            let name = format!("digit {d}");
            tone(&dir.join("digits").join(format!("{d}.wav")), &name, 0.1)?;
            written += 1;
        }
    }
    let fragments = match (&only, NumberRules::for_language(lang)) {
        (Some(list), _) => list.clone(),
        (None, Some(rules)) => {
            let mut all = rules.number_fragments();
            all.extend(rules.amount_fragments());
            all
        }
        (None, None) => Vec::new(),
    };
    for f in &fragments {
        tone(&dir.join("numbers").join(format!("{f}.wav")), f, 0.1)?;
        written += 1;
    }
    if only.is_none() {
        for id in ids {
            tone(&dir.join(format!("{id}.wav")), id, 0.25)?;
            written += 1;
        }
    }
    println!("{written} recordings under {}", dir.display());
    Ok(())
}
