//! Prompt recordings: reading WAV headers and checking they are telephony-ready.
//!
//! PCM and IEEE-float files are read with hound. Mu-law, A-law and other
//! formats hound does not decode are read from the RIFF `fmt ` and `data`
//! chunk headers directly, with small reads bounded by the file length.
//!
//! Truncated files: a `data` chunk that claims more bytes than the file holds
//! is clamped to the bytes actually present, and the duration counts only the
//! complete frames among them. A file with no `data` chunk (including one whose
//! `data` chunk header is cut off) is [`RecordingError::NotWav`].

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

const FORMAT_PCM: u16 = 0x0001;
const FORMAT_FLOAT: u16 = 0x0003;
const FORMAT_ALAW: u16 = 0x0006;
const FORMAT_MULAW: u16 = 0x0007;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// Bytes 2..16 shared by every `KSDATAFORMAT_SUBTYPE_*` GUID whose first two
/// bytes are a plain format tag.
const SUBFORMAT_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
/// Size of a `WAVEFORMATEXTENSIBLE` body; no longer `fmt ` prefix is read.
const FMT_MAX: usize = 40;

/// How a recording's samples are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavEncoding {
    /// Linear PCM integers of the given width.
    Pcm {
        /// Bits per sample.
        bits: u16,
    },
    /// IEEE floating point samples of the given width.
    Float {
        /// Bits per sample.
        bits: u16,
    },
    /// 8-bit G.711 mu-law.
    MuLaw,
    /// 8-bit G.711 A-law.
    ALaw,
    /// Any other WAV format tag.
    Other(u16),
}

/// What the compiler knows of a usable recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Number of interleaved channels.
    pub channels: u16,
    /// Frames per second.
    pub sample_rate: u32,
    /// Sample encoding.
    pub encoding: WavEncoding,
    /// Playing time of the sample data present in the file.
    pub duration: Duration,
}

/// Why a recording cannot be played to a caller.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Unreadable(#[source] io::Error),
    /// The file is not a WAV file hound or the RIFF reader understands.
    #[error("not a WAV file: {0}")]
    NotWav(String),
    /// The WAV format is not telephony-ready; `found` describes it, e.g. "stereo, 44100 Hz, 16-bit PCM".
    #[error(
        "unfit for telephony: {found} (needs mono, 8000 or 16000 Hz, 16-bit PCM or 8-bit mu-law/A-law)"
    )]
    Unfit {
        /// The format as [`describe`] puts it.
        found: String,
        /// Everything read from the file.
        recording: Recording,
    },
}

/// Reads a recording's header and checks it is telephony-ready.
pub fn inspect_recording(path: &Path) -> Result<Recording, RecordingError> {
    let file = File::open(path).map_err(RecordingError::Unreadable)?;
    let len = file.metadata().map_err(RecordingError::Unreadable)?.len();
    inspect(file, len)
}

/// [`inspect_recording`] for a recording already in memory: the compiler reads each file
/// once, so what it checks is what it hashes and keeps.
pub fn inspect_recording_bytes(bytes: &[u8]) -> Result<Recording, RecordingError> {
    inspect(io::Cursor::new(bytes), bytes.len() as u64)
}

fn inspect<R: Read + Seek>(mut file: R, len: u64) -> Result<Recording, RecordingError> {
    let layout = scan(&mut file, len)?;
    let fmt = &layout.fmt;
    let recording = match fmt.tag {
        FORMAT_PCM | FORMAT_FLOAT => read_with_hound(file, &layout)?,
        tag => {
            let encoding = match tag {
                FORMAT_MULAW => WavEncoding::MuLaw,
                FORMAT_ALAW => WavEncoding::ALaw,
                other => WavEncoding::Other(other),
            };
            let companded = matches!(encoding, WavEncoding::MuLaw | WavEncoding::ALaw);
            if companded && (fmt.bits != 8 || fmt.block_align != fmt.channels) {
                return Err(RecordingError::NotWav(format!(
                    "G.711 data with {} bits per sample and block align {} for {} channels",
                    fmt.bits, fmt.block_align, fmt.channels
                )));
            }
            Recording {
                channels: fmt.channels,
                sample_rate: fmt.sample_rate,
                encoding,
                duration: frames_to_duration(layout.frames(), fmt.sample_rate),
            }
        }
    };
    if is_fit(&recording) {
        Ok(recording)
    } else {
        Err(RecordingError::Unfit {
            found: describe(&recording),
            recording,
        })
    }
}

/// Describes a format the way admins read it: "mono, 8000 Hz, 8-bit mu-law".
pub fn describe(rec: &Recording) -> String {
    let channels = match rec.channels {
        1 => "mono".to_owned(),
        2 => "stereo".to_owned(),
        n => format!("{n} channels"),
    };
    let encoding = match rec.encoding {
        WavEncoding::Pcm { bits } => format!("{bits}-bit PCM"),
        WavEncoding::Float { bits } => format!("{bits}-bit float"),
        WavEncoding::MuLaw => "8-bit mu-law".to_owned(),
        WavEncoding::ALaw => "8-bit A-law".to_owned(),
        WavEncoding::Other(tag) => format!("format tag 0x{tag:04X}"),
    };
    format!("{channels}, {} Hz, {encoding}", rec.sample_rate)
}

fn is_fit(rec: &Recording) -> bool {
    rec.channels == 1
        && matches!(rec.sample_rate, 8000 | 16000)
        && matches!(
            rec.encoding,
            WavEncoding::Pcm { bits: 16 } | WavEncoding::MuLaw | WavEncoding::ALaw
        )
}

/// The `fmt ` chunk fields that matter, with an extensible tag resolved to its subformat.
struct Fmt {
    tag: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    bits: u16,
}

/// A scanned file: its format and how many data bytes are really present.
struct Layout {
    fmt: Fmt,
    data_bytes: u64,
}

impl Layout {
    fn frames(&self) -> u64 {
        self.data_bytes
            .checked_div(u64::from(self.fmt.block_align))
            .unwrap_or(0)
    }
}

fn not_wav(msg: impl Into<String>) -> RecordingError {
    RecordingError::NotWav(msg.into())
}

fn read_at<R: Read + Seek>(file: &mut R, pos: u64, buf: &mut [u8]) -> Result<(), RecordingError> {
    file.seek(SeekFrom::Start(pos))
        .and_then(|_| file.read_exact(buf))
        .map_err(RecordingError::Unreadable)
}

fn le16(buf: &[u8], at: usize) -> u16 {
    buf.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

fn le32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Walks the RIFF chunks up to the `data` chunk, never reading past `len`.
fn scan<R: Read + Seek>(file: &mut R, len: u64) -> Result<Layout, RecordingError> {
    if len < 12 {
        return Err(not_wav(format!(
            "{len} bytes is too short for a RIFF header"
        )));
    }
    let mut head = [0u8; 12];
    read_at(file, 0, &mut head)?;
    if head[..4] != *b"RIFF" || head[8..] != *b"WAVE" {
        return Err(not_wav("no RIFF/WAVE header"));
    }
    let mut fmt = None;
    let mut pos: u64 = 12;
    // `pos` only grows, by at least 8 each round, and stays far below u64::MAX.
    while pos.saturating_add(8) <= len {
        let mut header = [0u8; 8];
        read_at(file, pos, &mut header)?;
        let size = u64::from(le32(&header, 4));
        let body = pos + 8;
        match &header[..4] {
            b"fmt " => fmt = Some(read_fmt(file, body, size, len)?),
            b"data" => {
                let fmt = fmt.ok_or_else(|| not_wav("data chunk before fmt chunk"))?;
                let data_bytes = size.min(len - body);
                return Ok(Layout { fmt, data_bytes });
            }
            _ => {}
        }
        // Chunk bodies are padded to an even length.
        pos = body + size + (size & 1);
    }
    Err(not_wav(if fmt.is_none() {
        "no fmt chunk"
    } else {
        "no data chunk"
    }))
}

fn read_fmt<R: Read + Seek>(
    file: &mut R,
    body: u64,
    size: u64,
    len: u64,
) -> Result<Fmt, RecordingError> {
    if size < 16 {
        return Err(not_wav(format!("fmt chunk of {size} bytes is too short")));
    }
    let wanted = size.min(FMT_MAX as u64);
    if body + wanted > len {
        return Err(not_wav("fmt chunk is cut off"));
    }
    let mut buf = [0u8; FMT_MAX];
    let part = buf
        .get_mut(..wanted as usize)
        .ok_or_else(|| not_wav("fmt chunk is too long"))?;
    read_at(file, body, part)?;
    let mut tag = le16(&buf, 0);
    let channels = le16(&buf, 2);
    let sample_rate = le32(&buf, 4);
    let block_align = le16(&buf, 12);
    let bits = le16(&buf, 14);
    if tag == FORMAT_EXTENSIBLE {
        if wanted < FMT_MAX as u64 {
            return Err(not_wav("extensible fmt chunk is too short"));
        }
        if buf.get(26..40) == Some(&SUBFORMAT_TAIL[..]) {
            tag = le16(&buf, 24);
        }
    }
    if channels == 0 || sample_rate == 0 || block_align == 0 {
        return Err(not_wav(format!(
            "fmt chunk declares {channels} channels, {sample_rate} Hz, block align {block_align}"
        )));
    }
    Ok(Fmt {
        tag,
        channels,
        sample_rate,
        block_align,
        bits,
    })
}

/// Reads a PCM or float header with hound; the frame count is capped by the bytes present.
fn read_with_hound<R: Read + Seek>(
    mut file: R,
    layout: &Layout,
) -> Result<Recording, RecordingError> {
    file.seek(SeekFrom::Start(0))
        .map_err(RecordingError::Unreadable)?;
    let reader = match hound::WavReader::new(BufReader::new(file)) {
        Ok(reader) => reader,
        Err(hound::Error::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(not_wav(format!("header is cut off: {e}")));
        }
        Err(hound::Error::IoError(e)) => return Err(RecordingError::Unreadable(e)),
        Err(e) => return Err(not_wav(e.to_string())),
    };
    let spec = reader.spec();
    let encoding = match spec.sample_format {
        hound::SampleFormat::Int => WavEncoding::Pcm {
            bits: spec.bits_per_sample,
        },
        hound::SampleFormat::Float => WavEncoding::Float {
            bits: spec.bits_per_sample,
        },
    };
    let frames = u64::from(reader.duration()).min(layout.frames());
    Ok(Recording {
        channels: spec.channels,
        sample_rate: spec.sample_rate,
        encoding,
        duration: frames_to_duration(frames, spec.sample_rate),
    })
}

/// Exact `frames / rate` seconds, to the nanosecond; zero for a zero rate.
fn frames_to_duration(frames: u64, rate: u32) -> Duration {
    let rate = u64::from(rate);
    if rate == 0 {
        return Duration::ZERO;
    }
    // The remainder is below 2^32, so the product stays below 2^62.
    Duration::from_secs(frames / rate) + Duration::from_nanos(frames % rate * 1_000_000_000 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A hound-written WAV of silence; 32 bits means float here.
    fn pcm(channels: u16, sample_rate: u32, bits: u16, frames: u32) -> Vec<u8> {
        let sample_format = match bits {
            32 => hound::SampleFormat::Float,
            _ => hound::SampleFormat::Int,
        };
        let spec = hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format,
        };
        let mut out = Vec::new();
        let mut writer = hound::WavWriter::new(io::Cursor::new(&mut out), spec).unwrap();
        for _ in 0..frames * u32::from(channels) {
            match bits {
                8 => writer.write_sample(0i8),
                32 => writer.write_sample(0.0f32),
                _ => writer.write_sample(0i16),
            }
            .unwrap();
        }
        writer.finalize().unwrap();
        out
    }

    /// A RIFF/WAVE file made of the given chunks, each padded to an even length.
    fn riff(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        for (id, data) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(data.len() as u32).to_le_bytes());
            body.extend_from_slice(data);
            if data.len() % 2 == 1 {
                body.push(0);
            }
        }
        [&b"RIFF"[..], &(body.len() as u32).to_le_bytes(), &body].concat()
    }

    /// An 18-byte `WAVEFORMATEX` body.
    fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let byte_rate = rate * u32::from(align);
        [
            &tag.to_le_bytes()[..],
            &channels.to_le_bytes(),
            &rate.to_le_bytes(),
        ]
        .into_iter()
        .chain([&byte_rate.to_le_bytes()[..], &align.to_le_bytes()])
        .chain([&bits.to_le_bytes()[..], &[0, 0]])
        .flatten()
        .copied()
        .collect()
    }

    /// A 40-byte mono 8-bit `WAVEFORMATEXTENSIBLE` body.
    fn extensible(sub_tag: u16, tail: &[u8; 14]) -> Vec<u8> {
        let mut f = fmt(FORMAT_EXTENSIBLE, 1, 8000, 8);
        f.truncate(16);
        f.extend_from_slice(&[22, 0, 8, 0, 4, 0, 0, 0]);
        f.extend_from_slice(&sub_tag.to_le_bytes());
        f.extend_from_slice(tail);
        f
    }

    fn law(tag: u16, channels: u16, rate: u32, data_len: usize) -> Vec<u8> {
        let data = vec![0xFF; data_len];
        riff(&[(b"fmt ", fmt(tag, channels, rate, 8)), (b"data", data)])
    }

    fn inspect(bytes: &[u8]) -> Result<Recording, RecordingError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prompt.wav");
        std::fs::write(&path, bytes).unwrap();
        let from_file = inspect_recording(&path);
        // Every case here checks the in-memory reading too: it must say the same.
        let from_memory = inspect_recording_bytes(bytes);
        assert_eq!(format!("{from_file:?}"), format!("{from_memory:?}"));
        from_file
    }

    fn unfit(bytes: &[u8]) -> (String, Recording) {
        match inspect(bytes) {
            Err(RecordingError::Unfit { found, recording }) => (found, recording),
            other => panic!("expected Unfit, got {other:?}"),
        }
    }

    fn is_not_wav(bytes: &[u8]) -> bool {
        matches!(inspect(bytes), Err(RecordingError::NotWav(_)))
    }

    #[test]
    fn pcm_mono_16_bit_fits_with_exact_duration() {
        let rec = inspect(&pcm(1, 8000, 16, 12_345)).unwrap();
        assert_eq!(rec.channels, 1);
        assert_eq!(rec.sample_rate, 8000);
        assert_eq!(rec.encoding, WavEncoding::Pcm { bits: 16 });
        assert_eq!(rec.duration, Duration::from_nanos(1_543_125_000));
        assert_eq!(describe(&rec), "mono, 8000 Hz, 16-bit PCM");
        let rec = inspect(&pcm(1, 16000, 16, 4000)).unwrap();
        assert_eq!(rec.duration, Duration::from_millis(250));
    }

    #[test]
    fn stereo_44100_is_unfit() {
        let bytes = pcm(2, 44100, 16, 44100);
        let (found, rec) = unfit(&bytes);
        assert_eq!(found, "stereo, 44100 Hz, 16-bit PCM");
        assert_eq!((rec.channels, rec.duration), (2, Duration::from_secs(1)));
        let err = inspect(&bytes).unwrap_err().to_string();
        assert!(err.starts_with("unfit for telephony: stereo, 44100 Hz, 16-bit PCM (needs mono"));
    }

    #[test]
    fn eight_bit_pcm_float_and_22050_hz_are_unfit() {
        assert_eq!(unfit(&pcm(1, 8000, 8, 800)).0, "mono, 8000 Hz, 8-bit PCM");
        // hound writes 32-bit float as WAVE_FORMAT_EXTENSIBLE.
        let (found, rec) = unfit(&pcm(1, 8000, 32, 800));
        assert_eq!(found, "mono, 8000 Hz, 32-bit float");
        assert_eq!(rec.duration, Duration::from_millis(100));
        assert_eq!(unfit(&pcm(1, 22050, 16, 5)).0, "mono, 22050 Hz, 16-bit PCM");
    }

    #[test]
    fn mu_law_and_a_law_fit_with_duration() {
        let rec = inspect(&law(FORMAT_MULAW, 1, 8000, 4000)).unwrap();
        assert_eq!(rec.encoding, WavEncoding::MuLaw);
        assert_eq!(rec.duration, Duration::from_millis(500));
        assert_eq!(describe(&rec), "mono, 8000 Hz, 8-bit mu-law");
        // Odd-sized chunks before `data` are skipped with their pad byte.
        let rec = inspect(&riff(&[
            (b"LIST", b"INFOabc".to_vec()),
            (b"fmt ", fmt(FORMAT_ALAW, 1, 16000, 8)),
            (b"fact", 12_000u32.to_le_bytes().to_vec()),
            (b"data", vec![0xD5; 12_000]),
        ]))
        .unwrap();
        assert_eq!((rec.encoding, rec.sample_rate), (WavEncoding::ALaw, 16000));
        assert_eq!(rec.duration, Duration::from_millis(750));
    }

    #[test]
    fn other_g711_layouts() {
        let (found, rec) = unfit(&law(FORMAT_MULAW, 2, 8000, 1600));
        assert_eq!(found, "stereo, 8000 Hz, 8-bit mu-law");
        assert_eq!(rec.duration, Duration::from_millis(100));
        let data = vec![0; 100];
        assert!(is_not_wav(&riff(&[
            (b"fmt ", fmt(FORMAT_MULAW, 1, 8000, 16)),
            (b"data", data)
        ])));
        let adpcm = law(0x0002, 1, 8000, 80);
        assert_eq!(unfit(&adpcm).0, "mono, 8000 Hz, format tag 0x0002");
    }

    #[test]
    fn extensible_subformats() {
        let data = vec![0xFF; 800];
        let ext = extensible(FORMAT_MULAW, &SUBFORMAT_TAIL);
        let rec = inspect(&riff(&[(b"fmt ", ext), (b"data", data.clone())])).unwrap();
        assert_eq!(rec.encoding, WavEncoding::MuLaw);
        assert_eq!(rec.duration, Duration::from_millis(100));
        let vendor = extensible(FORMAT_ALAW, &[0x55; 14]);
        let (found, rec) = unfit(&riff(&[(b"fmt ", vendor), (b"data", data)]));
        assert_eq!(found, "mono, 8000 Hz, format tag 0xFFFE");
        assert_eq!(rec.encoding, WavEncoding::Other(FORMAT_EXTENSIBLE));
    }

    #[test]
    fn text_missing_and_truncated_files() {
        assert!(is_not_wav(b"Hello, this is not audio at all.\n"));
        assert!(is_not_wav(b""));
        let dir = tempfile::tempdir().unwrap();
        let missing = inspect_recording(&dir.path().join("missing.wav"));
        assert!(matches!(missing, Err(RecordingError::Unreadable(_))));
        let bytes = pcm(1, 8000, 16, 800);
        for cut in [4, 12, 20, 30, 40, 43] {
            assert!(is_not_wav(&bytes[..cut]), "cut at {cut}");
        }
        assert!(is_not_wav(&law(FORMAT_MULAW, 1, 8000, 100)[..40]));
    }

    #[test]
    fn short_data_is_clamped_to_what_is_there() {
        let mut bytes = law(FORMAT_MULAW, 1, 8000, 800);
        let at = bytes.len() - 804;
        bytes[at..at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert_eq!(
            inspect(&bytes).unwrap().duration,
            Duration::from_millis(100)
        );
        let bytes = pcm(1, 8000, 16, 8000);
        let rec = inspect(&bytes[..44 + 4001]).unwrap();
        assert_eq!(rec.duration, Duration::from_millis(250));
    }

    #[test]
    fn missing_or_misplaced_chunks_are_not_wav() {
        let mu = || fmt(FORMAT_MULAW, 1, 8000, 8);
        assert!(is_not_wav(&riff(&[(b"fmt ", mu())])));
        assert!(is_not_wav(&riff(&[(b"data", vec![0; 8]), (b"fmt ", mu())])));
        assert!(is_not_wav(&law(FORMAT_MULAW, 1, 0, 8)));
    }

    #[test]
    fn describes_many_channels() {
        let rec = Recording {
            channels: 6,
            sample_rate: 48000,
            encoding: WavEncoding::Pcm { bits: 24 },
            duration: Duration::ZERO,
        };
        assert_eq!(describe(&rec), "6 channels, 48000 Hz, 24-bit PCM");
        let rec = Recording {
            channels: 1,
            encoding: WavEncoding::ALaw,
            ..rec
        };
        assert_eq!(describe(&rec), "mono, 48000 Hz, 8-bit A-law");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = inspect(&bytes);
        }

        #[test]
        fn corrupted_headers_never_panic(
            hound_made in any::<bool>(),
            edits in prop::collection::vec((0usize..64, any::<u8>()), 1..6),
            cut in 0usize..200,
        ) {
            let mut bytes = if hound_made {
                pcm(1, 8000, 16, 60)
            } else {
                let ext = extensible(FORMAT_MULAW, &SUBFORMAT_TAIL);
                riff(&[(b"fmt ", ext), (b"data", vec![0xFF; 120])])
            };
            for (at, value) in edits {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            bytes.truncate(bytes.len().saturating_sub(cut));
            let _ = inspect(&bytes);
        }
    }
}
