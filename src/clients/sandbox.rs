//! Budgets that code under attack cannot escape: decoders run in child processes whose memory
//! (`RLIMIT_AS`), CPU time (`RLIMIT_CPU`) and wall-clock time are limited by the kernel and by
//! the parent, not by the decoder's own bookkeeping (jpeg-decoder, for one, allocates its
//! coefficients without consulting any limit, and walks every block again for each scan).
//!
//! - Stills: the server runs itself as `<helper> media-still` per image (`process_still`): the
//!   upload goes in on standard input, the renditions, the stripped full-size copy and what
//!   was found come back on standard output. The child limits its own address space before it
//!   reads a byte; the parent kills it when `timeout` passes. A child that dies (out of memory,
//!   out of CPU time, a panic) refuses the image with a plain reason.
//! - ffprobe and ffmpeg get `RLIMIT_AS` and `RLIMIT_CPU` between fork and exec
//!   (`limit_command`); `clients::ffmpeg` kills them at their wall-clock timeout.

use super::imaging::{self, ImageLimits, Processed, Refused, Rendition};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Address space a child needs beyond its budget: the runtime, the allocator's arenas, the
/// standard streams' buffers.
const BASE_HEADROOM: u64 = 96 << 20;

/// What the parent tells the still child, on its command line.
#[derive(Debug, Clone, clap::Args)]
pub struct StillArgs {
    #[arg(long)]
    pub content_type: String,
    #[arg(long)]
    pub max_pixels: u64,
    #[arg(long)]
    pub max_alloc: u64,
    #[arg(long)]
    pub max_scans: u32,
    /// Bytes of input read at most.
    #[arg(long)]
    pub max_input: u64,
    /// CPU seconds the child may use.
    #[arg(long)]
    pub cpu_secs: u64,
}

/// The first line of the child's answer (JSON); the bytes of `full`, `large` and `small`
/// follow it in that order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    outcome: Outcome,
    /// The child's peak resident memory (VmHWM), in bytes.
    peak_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Outcome {
    Processed {
        width: u32,
        height: u32,
        orientation: u8,
        decoded: String,
        full: usize,
        large: (u32, u32, usize),
        small: (u32, u32, usize),
    },
    Refused(String),
}

/// A still as the child made it, with what it cost.
#[derive(Debug)]
pub struct Still {
    pub processed: Processed,
    pub peak_bytes: u64,
}

/// Why a still was not made: the file's fault (with the child's peak memory when known), or
/// ours (the helper could not be run: try again).
#[derive(Debug)]
pub enum StillError {
    Refused {
        reason: String,
        peak_bytes: Option<u64>,
    },
    Failed(anyhow::Error),
}

/// A line of `/proc/self/status` in bytes (`VmSize:`, `VmHWM:`).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct we pass and touches nothing else; it is also
    // async-signal-safe, so it may run between fork and exec.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The still child's `main`: limits itself, reads the image, answers. The exit status is 0
/// whenever an answer was written (a refusal included).
pub fn still_main(args: &StillArgs) -> std::process::ExitCode {
    // Limits first, before a byte of the upload is read: what the process maps now, plus the
    // input, its stripped copy, the decoder's budget (twice: decoded pixels may be converted
    // once more) and some headroom.
    let now = status_bytes("VmSize:").unwrap_or(0);
    let budget = now
        .saturating_add(args.max_input.saturating_mul(3))
        .saturating_add(args.max_alloc.saturating_mul(2))
        .saturating_add(BASE_HEADROOM);
    let limited = set_limit(libc::RLIMIT_AS, budget)
        .and_then(|()| set_limit(libc::RLIMIT_CPU, args.cpu_secs.max(1)));
    if let Err(e) = limited {
        eprintln!("media-still: limits could not be set: {e}");
        return std::process::ExitCode::from(3);
    }
    let mut input = Vec::new();
    let read = std::io::stdin()
        .lock()
        .take(args.max_input.saturating_add(1))
        .read_to_end(&mut input);
    if let Err(e) = read {
        eprintln!("media-still: reading the image: {e}");
        return std::process::ExitCode::from(3);
    }
    let limits = ImageLimits {
        max_pixels: args.max_pixels,
        max_alloc: args.max_alloc,
        max_scans: args.max_scans,
    };
    let result = if input.len() as u64 > args.max_input {
        Err(Refused(format!(
            "the image is larger than {} bytes",
            args.max_input
        )))
    } else {
        imaging::process(&input, &args.content_type, &limits)
    };
    drop(input);
    let peak_bytes = status_bytes("VmHWM:").unwrap_or(0);
    let (outcome, parts) = match result {
        Ok(p) => (
            Outcome::Processed {
                width: p.width,
                height: p.height,
                orientation: p.orientation,
                decoded: p.decoded,
                full: p.full.len(),
                large: (p.large.width, p.large.height, p.large.jpeg.len()),
                small: (p.small.width, p.small.height, p.small.jpeg.len()),
            },
            vec![p.full, p.large.jpeg, p.small.jpeg],
        ),
        Err(Refused(reason)) => (Outcome::Refused(reason), Vec::new()),
    };
    let answer = Answer {
        outcome,
        peak_bytes,
    };
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &answer)
        .map_err(std::io::Error::other)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| parts.iter().try_for_each(|p| out.write_all(p)))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("media-still: writing the answer: {e}");
            std::process::ExitCode::from(3)
        }
    }
}

/// How to run still children.
#[derive(Debug, Clone)]
pub struct StillRunner {
    /// The program (`<helper> media-still ...`).
    pub helper: std::path::PathBuf,
    pub limits: ImageLimits,
    pub timeout: Duration,
}

impl StillRunner {
    /// The runner of `media` settings: the configured helper, or this executable.
    pub fn from_settings(media: &crate::configuration::MediaSettings) -> anyhow::Result<Self> {
        let helper = match media.still_helper.trim() {
            "" => std::env::current_exe()?,
            path => std::path::PathBuf::from(path),
        };
        Ok(StillRunner {
            helper,
            limits: ImageLimits {
                max_pixels: media.max_image_pixels,
                max_alloc: media.max_image_alloc,
                max_scans: media.max_jpeg_scans,
            },
            timeout: Duration::from_millis(media.still_timeout_ms),
        })
    }

    /// Processes `bytes` (of `content_type`) in a child process within the runner's budget.
    pub async fn process(&self, bytes: Vec<u8>, content_type: &str) -> Result<Still, StillError> {
        let seconds = self.timeout.as_secs_f64();
        let mut child = tokio::process::Command::new(&self.helper)
            .arg("media-still")
            .args(["--content-type", content_type])
            .args(["--max-pixels", &self.limits.max_pixels.to_string()])
            .args(["--max-alloc", &self.limits.max_alloc.to_string()])
            .args(["--max-scans", &self.limits.max_scans.to_string()])
            .args(["--max-input", &bytes.len().to_string()])
            .args(["--cpu-secs", &self.timeout.as_secs().max(1).to_string()])
            // Nothing of the server's configuration reaches the child.
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                StillError::Failed(anyhow::anyhow!(
                    "the still helper {} could not be started: {e}",
                    self.helper.display()
                ))
            })?;
        let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(StillError::Failed(anyhow::anyhow!(
                "the still helper's streams are not piped"
            )));
        };
        // The answer holds the input once more (stripped) and two small renditions.
        let max_answer = (bytes.len() as u64).saturating_add(32 << 20);
        let work = async {
            let feed = async {
                // A child that stops reading (it refused early) closes its input: not an error.
                let _ = stdin.write_all(&bytes).await;
                drop(stdin);
            };
            let mut out = Vec::new();
            let mut err = Vec::new();
            let mut out_limited = (&mut stdout).take(max_answer + 1);
            let mut err_limited = (&mut stderr).take(16 << 10);
            let read_out = out_limited.read_to_end(&mut out);
            let read_err = err_limited.read_to_end(&mut err);
            let ((), o, e) = tokio::join!(feed, read_out, read_err);
            let status = child.wait().await;
            (o.and(e).and(status), out, err)
        };
        let Ok((finished, out, err)) = tokio::time::timeout(self.timeout, work).await else {
            // Dropping `work` drops the child: kill_on_drop sends SIGKILL.
            return Err(StillError::Refused {
                reason: format!(
                    "decoding the image took longer than {seconds:.1} s and was stopped"
                ),
                peak_bytes: None,
            });
        };
        let status = finished
            .map_err(|e| StillError::Failed(anyhow::anyhow!("running the still helper: {e}")))?;
        if !status.success() {
            return Err(died(status, &err, seconds));
        }
        parse_answer(&out)
    }
}

/// Why a child that ended without answering did: said to the owner as a refusal, unless the
/// helper itself could not work (exit status 3: try again).
fn died(status: std::process::ExitStatus, stderr: &[u8], seconds: f64) -> StillError {
    use std::os::unix::process::ExitStatusExt;
    let said = String::from_utf8_lossy(stderr);
    let said: String = said.chars().take(300).collect();
    if status.code() == Some(3) {
        return StillError::Failed(anyhow::anyhow!("the still helper failed: {said}"));
    }
    tracing::info!(%status, stderr = %said, "a still's decoder ended without an answer");
    let reason = if said.contains("memory allocation") {
        "decoding the image needs more memory than is allowed".to_string()
    } else if matches!(status.signal(), Some(libc::SIGXCPU | libc::SIGKILL)) {
        format!("decoding the image took longer than {seconds:.1} s of CPU and was stopped")
    } else {
        "the image could not be read (its decoder failed)".to_string()
    };
    StillError::Refused {
        reason,
        peak_bytes: None,
    }
}

fn parse_answer(out: &[u8]) -> Result<Still, StillError> {
    let broken =
        |what: &str| StillError::Failed(anyhow::anyhow!("the still helper's answer {what}"));
    let newline = out
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| broken("has no header"))?;
    let answer: Answer =
        serde_json::from_slice(&out[..newline]).map_err(|_| broken("has a bad header"))?;
    let body = &out[newline + 1..];
    match answer.outcome {
        Outcome::Refused(reason) => Err(StillError::Refused {
            reason,
            peak_bytes: Some(answer.peak_bytes),
        }),
        Outcome::Processed {
            width,
            height,
            orientation,
            decoded,
            full,
            large,
            small,
        } => {
            if body.len() != full + large.2 + small.2 {
                return Err(broken("is cut short"));
            }
            let (full_bytes, rest) = body.split_at(full);
            let (large_bytes, small_bytes) = rest.split_at(large.2);
            Ok(Still {
                processed: Processed {
                    width,
                    height,
                    orientation,
                    decoded,
                    full: full_bytes.to_vec(),
                    large: Rendition {
                        width: large.0,
                        height: large.1,
                        jpeg: large_bytes.to_vec(),
                    },
                    small: Rendition {
                        width: small.0,
                        height: small.1,
                        jpeg: small_bytes.to_vec(),
                    },
                },
                peak_bytes: answer.peak_bytes,
            })
        }
    }
}

/// Gives `command` an address-space and CPU-time limit, set in the child between fork and exec.
pub fn limit_command(command: &mut tokio::process::Command, address_space: u64, cpu_secs: u64) {
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit, which
    // is async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_AS, address_space)?;
            set_limit(libc::RLIMIT_CPU, cpu_secs.max(1))
        });
    }
}
