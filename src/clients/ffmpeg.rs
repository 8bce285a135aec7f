//! Video and audio through Debian's `ffprobe` and `ffmpeg`, each run with a time limit (killed
//! when it passes it) and an address-space and CPU limit set by the kernel (`sandbox`).
//!
//! Every stream of a file is checked, not only the first: a file with more than `max_streams`
//! streams, an attachment, or any video stream over the pixel limit is refused, and the poster
//! frame is cut from the first video stream, named explicitly (`-map 0:v:0`), never from
//! whichever stream ffmpeg would pick.
//!
//! The input is a local path or a short-lived presigned URL. The demuxer is named from the
//! declared (and sniffed) type rather than guessed, and only the protocols that input needs
//! are allowed, so a hostile file cannot turn into a playlist that reads other files or URLs.

use serde::Deserialize;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The largest output read from a tool (ffprobe's JSON, a poster frame).
const MAX_OUTPUT: usize = 16 << 20;
/// The longest side of a poster frame.
pub const POSTER_SIDE: u32 = 1280;
/// Videos larger than this (width × height) are refused before a frame is decoded.
pub const MAX_VIDEO_PIXELS: u64 = 8192 * 4352;

/// How to run the tools.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ffprobe: String,
    pub ffmpeg: String,
    pub timeout: Duration,
    /// Address space one run may map, its libraries included.
    pub max_memory: u64,
}

/// Decoder threads of a poster run (ffmpeg would start one per core, each with its stack).
const THREADS: &str = "2";

/// Where the tools read the item from.
#[derive(Debug, Clone)]
pub enum Input {
    File(std::path::PathBuf),
    Url(String),
}

impl Input {
    fn arg(&self) -> std::ffi::OsString {
        match self {
            Input::File(path) => {
                // `file:` keeps a name from being read as another protocol or an option.
                let mut arg = std::ffi::OsString::from("file:");
                arg.push(path.as_os_str());
                arg
            }
            Input::Url(url) => url.into(),
        }
    }

    fn protocols(&self) -> &'static str {
        match self {
            Input::File(_) => "file",
            Input::Url(url) if url.starts_with("https:") => "https,tls,tcp",
            Input::Url(_) => "http,tcp",
        }
    }
}

/// Why a run failed: the file's fault (said to its owner) or ours (tried again).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// What `ffprobe` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    pub format: Option<String>,
    pub duration_seconds: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    /// Every stream, in the file's order.
    pub streams: Vec<StreamInfo>,
}

/// One stream of a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamInfo {
    /// `video`, `audio`, `subtitle`, `data`, `attachment`.
    pub kind: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl Probe {
    /// Refuses a file whose streams are more than `max_streams`, that carries an attachment,
    /// or any of whose video streams is larger than `max_pixels`.
    pub fn check_streams(&self, max_streams: usize, max_pixels: u64) -> Result<(), ToolError> {
        if self.streams.len() > max_streams {
            return Err(ToolError::Refused(format!(
                "the file has {} streams; at most {max_streams} are accepted",
                self.streams.len()
            )));
        }
        for (i, stream) in self.streams.iter().enumerate() {
            if stream.kind == "attachment" {
                return Err(ToolError::Refused(
                    "the file carries an attachment; send the video alone".into(),
                ));
            }
            if let (Some(w), Some(h)) = (stream.width, stream.height) {
                if stream.kind == "video" && u64::from(w) * u64::from(h) > max_pixels {
                    return Err(ToolError::Refused(format!(
                        "stream {} of the file is {w} × {h} pixels; at most 8192 × 4352 are accepted",
                        i + 1
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The demuxer of a declared type.
pub fn demuxer(content_type: &str) -> Option<&'static str> {
    Some(match content_type {
        "video/mp4" | "video/quicktime" | "audio/mp4" | "audio/x-m4a" => "mov",
        "video/webm" => "matroska",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        _ => return None,
    })
}

/// Runs `program` with `args`, killing it when `limit` passes; its standard output, at most
/// `MAX_OUTPUT` bytes.
async fn run(
    program: &str,
    args: &[std::ffi::OsString],
    limit: Duration,
    max_memory: u64,
    what: &str,
) -> Result<Vec<u8>, ToolError> {
    let mut command = Command::new(program);
    super::sandbox::limit_command(&mut command, max_memory, limit.as_secs().saturating_add(1));
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ToolError::Failed(format!("{program} could not be started: {e}")))?;
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(ToolError::Failed(format!(
            "{program}'s output is not piped"
        )));
    };
    let started = Instant::now();
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            (&mut stdout)
                .take(MAX_OUTPUT as u64 + 1)
                .read_to_end(&mut out)
                .await
        };
        let read_err = async { (&mut stderr).take(64 << 10).read_to_end(&mut err).await };
        let (o, e) = tokio::join!(read_out, read_err);
        o.and(e)
            .map_err(|e| ToolError::Failed(format!("reading {program}'s output: {e}")))?;
        let status = child
            .wait()
            .await
            .map_err(|e| ToolError::Failed(format!("waiting for {program}: {e}")))?;
        Ok::<_, ToolError>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(limit, work).await {
        Ok(done) => done?,
        Err(_) => {
            // Dropping `work` drops the child: kill_on_drop sends SIGKILL (and tokio reaps it).
            return Err(ToolError::Refused(format!(
                "{what} took longer than {:.1} s and was stopped",
                limit.as_secs_f64()
            )));
        }
    };
    if out.len() > MAX_OUTPUT {
        return Err(ToolError::Refused(format!(
            "{what} produced too much output"
        )));
    }
    if !status.success() {
        let message = String::from_utf8_lossy(&err);
        let first = message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        tracing::debug!(program, elapsed_ms = started.elapsed().as_millis() as u64, %status, "a media tool failed");
        return Err(ToolError::Refused(format!(
            "{what} failed: {}",
            first.chars().take(300).collect::<String>()
        )));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<StreamJson>,
    format: Option<FormatJson>,
}

#[derive(Deserialize)]
struct StreamJson {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct FormatJson {
    format_name: Option<String>,
    duration: Option<String>,
}

/// Parses `ffprobe -of json` output.
pub fn parse_probe(json: &[u8]) -> Result<Probe, ToolError> {
    let parsed: ProbeJson = serde_json::from_slice(json)
        .map_err(|e| ToolError::Refused(format!("the file could not be probed: {e}")))?;
    let seconds = |s: &Option<String>| {
        s.as_deref()
            .and_then(|d| d.parse::<f64>().ok())
            .filter(|d| d.is_finite() && *d >= 0.0)
    };
    let video = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video"));
    let audio = parsed
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("audio"));
    let duration = parsed
        .format
        .as_ref()
        .and_then(|f| seconds(&f.duration))
        .or_else(|| video.and_then(|v| seconds(&v.duration)))
        .or_else(|| audio.and_then(|a| seconds(&a.duration)));
    let streams = parsed
        .streams
        .iter()
        .map(|s| StreamInfo {
            kind: s.codec_type.clone().unwrap_or_default(),
            width: s.width,
            height: s.height,
        })
        .collect();
    Ok(Probe {
        streams,
        format: parsed.format.and_then(|f| f.format_name),
        duration_seconds: duration,
        width: video.and_then(|v| v.width),
        height: video.and_then(|v| v.height),
        video_codec: video.and_then(|v| v.codec_name.clone()),
        audio_codec: audio.and_then(|a| a.codec_name.clone()),
    })
}

impl Tools {
    /// Probes `input` (of the declared `content_type`).
    pub async fn probe(&self, input: &Input, content_type: &str) -> Result<Probe, ToolError> {
        let format = demuxer(content_type)
            .ok_or_else(|| ToolError::Refused(format!("{content_type} cannot be probed")))?;
        let args: Vec<std::ffi::OsString> = [
            "-v",
            "error",
            "-protocol_whitelist",
            input.protocols(),
            "-f",
            format,
            "-show_entries",
            "format=format_name,duration:stream=codec_type,codec_name,width,height,duration",
            "-of",
            "json",
            "-i",
        ]
        .iter()
        .map(Into::into)
        .chain([input.arg()])
        .collect();
        let out = run(
            &self.ffprobe,
            &args,
            self.timeout,
            self.max_memory,
            "probing the file",
        )
        .await?;
        parse_probe(&out)
    }

    /// A JPEG poster frame of `input` at `at_seconds`, fitted into `POSTER_SIDE` (seeking
    /// before the input, so only the frames from the nearest keyframe on are decoded).
    pub async fn poster(
        &self,
        input: &Input,
        content_type: &str,
        at_seconds: f64,
    ) -> Result<Vec<u8>, ToolError> {
        let format = demuxer(content_type)
            .ok_or_else(|| ToolError::Refused(format!("{content_type} has no frames")))?;
        let seek = format!("{at_seconds:.3}");
        // Fitted into the box, never enlarged.
        let scale = format!(
            "scale=w='min({POSTER_SIDE},iw)':h='min({POSTER_SIDE},ih)':\
             force_original_aspect_ratio=decrease"
        );
        let args: Vec<std::ffi::OsString> = [
            "-nostdin",
            "-v",
            "error",
            "-protocol_whitelist",
            input.protocols(),
            "-threads",
            THREADS,
            "-ss",
            &seek,
            "-f",
            format,
            "-i",
        ]
        .iter()
        .map(Into::into)
        .chain([input.arg()])
        .chain(
            [
                "-map",
                "0:v:0",
                "-map_metadata",
                "-1",
                "-an",
                "-sn",
                "-frames:v",
                "1",
                "-vf",
                &scale,
                "-c:v",
                "mjpeg",
                "-q:v",
                "4",
                "-f",
                "image2pipe",
                "pipe:1",
            ]
            .iter()
            .map(Into::into),
        )
        .collect();
        let jpeg = run(
            &self.ffmpeg,
            &args,
            self.timeout,
            self.max_memory,
            "cutting the poster frame",
        )
        .await?;
        if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] {
            return Err(ToolError::Refused("the video has no frame to show".into()));
        }
        Ok(jpeg)
    }
}

/// Where the poster frame is cut: a tenth into the video, at most two seconds in.
pub fn poster_time(duration: Option<f64>) -> f64 {
    duration.map_or(0.0, |d| (d * 0.1).min(2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_is_read_whatever_ffprobe_leaves_out() {
        let json = br#"{"programs":[],"streams":[
            {"codec_name":"h264","codec_type":"video","width":1920,"height":1080,"duration":"60.000000"},
            {"codec_name":"aac","codec_type":"audio","duration":"59.98"}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"60.021000"}}"#;
        let probe = parse_probe(json).expect("parsed");
        assert_eq!(probe.streams.len(), 2);
        assert!(probe.check_streams(8, MAX_VIDEO_PIXELS).is_ok());
        assert_eq!(probe.width, Some(1920));
        assert_eq!(probe.video_codec.as_deref(), Some("h264"));
        assert_eq!(probe.audio_codec.as_deref(), Some("aac"));
        assert_eq!(probe.duration_seconds, Some(60.021));
        let audio_only = br#"{"streams":[{"codec_name":"mp3","codec_type":"audio"}],"format":{"duration":"N/A"}}"#;
        let probe = parse_probe(audio_only).expect("parsed");
        assert_eq!(probe.duration_seconds, None);
        assert_eq!(probe.width, None);
        assert!(parse_probe(b"not json").is_err());
    }

    #[test]
    fn every_stream_is_checked_not_only_the_first() {
        let hidden = br#"{"streams":[
            {"codec_name":"mjpeg","codec_type":"video","width":64,"height":64},
            {"codec_name":"mjpeg","codec_type":"video","width":9000,"height":9000}],
            "format":{"duration":"1.0"}}"#;
        let probe = parse_probe(hidden).expect("parsed");
        let refused = probe
            .check_streams(8, MAX_VIDEO_PIXELS)
            .expect_err("refused");
        assert!(refused.to_string().contains("9000 × 9000"), "{refused}");
        let many = format!(
            r#"{{"streams":[{}],"format":{{}}}}"#,
            [r#"{"codec_type":"audio"}"#; 9].join(",")
        );
        let probe = parse_probe(many.as_bytes()).expect("parsed");
        assert!(probe.check_streams(8, MAX_VIDEO_PIXELS).is_err());
        let attached = br#"{"streams":[{"codec_type":"video","width":64,"height":64},
            {"codec_type":"attachment"}],"format":{}}"#;
        let probe = parse_probe(attached).expect("parsed");
        assert!(probe.check_streams(8, MAX_VIDEO_PIXELS).is_err());
    }

    #[test]
    fn the_demuxer_comes_from_the_declared_type_only() {
        assert_eq!(demuxer("video/mp4"), Some("mov"));
        assert_eq!(demuxer("video/webm"), Some("matroska"));
        assert_eq!(demuxer("application/x-mpegurl"), None);
        assert_eq!(poster_time(Some(60.0)), 2.0);
        assert_eq!(poster_time(Some(5.0)), 0.5);
        assert_eq!(poster_time(None), 0.0);
    }
}
