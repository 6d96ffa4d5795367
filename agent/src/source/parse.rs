//! Parsers of the Linux `/proc` files the agent reads: `&str` in, plain snapshot structs
//! out, no I/O and no panics on any input (fuzz-friendly). Errors name the line and what was
//! expected there.

use std::str::{FromStr, SplitWhitespace};

use ferrobeat_schema::metricsets::{Network, NetworkCounters};

use crate::snapshot::{CpuSnapshot, CpuTimes, DiskStats, LoadSnapshot, MemInfo, Mount};

/// What is wrong with a `/proc` file's text, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number (0 when the problem is the file as a whole).
    pub line: usize,
    /// What was expected.
    pub reason: String,
}

impl ParseError {
    fn new(line: usize, reason: impl Into<String>) -> Self {
        ParseError {
            line,
            reason: reason.into(),
        }
    }
}

/// Reads the next whitespace-separated field of line `line` as a `T` named `what`.
fn next_field<T: FromStr>(
    fields: &mut SplitWhitespace<'_>,
    line: usize,
    what: &str,
) -> Result<T, ParseError> {
    let text = fields
        .next()
        .ok_or_else(|| ParseError::new(line, format!("missing field `{what}`")))?;
    text.parse()
        .map_err(|_| ParseError::new(line, format!("field `{what}` is not a number: {text:?}")))
}

/// `/proc/stat`: the aggregate `cpu` line and the number of `cpuN` lines.
///
/// # Errors
/// When the `cpu` line is missing or has fewer than the four fields every kernel writes.
pub fn parse_stat(text: &str) -> Result<CpuSnapshot, ParseError> {
    let mut times = None;
    let mut cores = 0u32;
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let n = index + 1;
                let optional = |fields: &mut SplitWhitespace<'_>, what| match fields.clone().next()
                {
                    Some(_) => next_field(fields, n, what).map(Some),
                    None => Ok(None),
                };
                times = Some(CpuTimes {
                    user: next_field(&mut fields, n, "user")?,
                    nice: next_field(&mut fields, n, "nice")?,
                    system: next_field(&mut fields, n, "system")?,
                    idle: next_field(&mut fields, n, "idle")?,
                    iowait: optional(&mut fields, "iowait")?,
                    irq: optional(&mut fields, "irq")?,
                    softirq: optional(&mut fields, "softirq")?,
                    steal: optional(&mut fields, "steal")?,
                });
            }
            Some(name) if name.strip_prefix("cpu").is_some_and(is_number) => {
                cores = cores.saturating_add(1);
            }
            _ => {}
        }
    }
    let times = times.ok_or_else(|| ParseError::new(0, "no aggregate `cpu` line"))?;
    Ok(CpuSnapshot { times, cores })
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `/proc/meminfo`, in bytes (the `kB` values × 1024).
///
/// # Errors
/// When `MemTotal`, `MemFree`, `Buffers`, `Cached`, `SwapTotal` or `SwapFree` is missing, or
/// a known key's value is not a number.
pub fn parse_meminfo(text: &str) -> Result<MemInfo, ParseError> {
    let mut info = MemInfo::default();
    let mut required_seen = [false; 6];
    for (index, line) in text.lines().enumerate() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let mut value = || -> Result<u64, ParseError> {
            let number: u64 = next_field(&mut fields, index + 1, key)?;
            Ok(match fields.next() {
                Some("kB") => number.saturating_mul(1024),
                _ => number,
            })
        };
        let required = match key {
            "MemTotal" => Some((0, &mut info.total)),
            "MemFree" => Some((1, &mut info.free)),
            "Buffers" => Some((2, &mut info.buffers)),
            "SwapTotal" => Some((3, &mut info.swap_total)),
            "SwapFree" => Some((4, &mut info.swap_free)),
            _ => None,
        };
        if let Some((slot, target)) = required {
            *target = value()?;
            required_seen[slot] = true;
            continue;
        }
        match key {
            "Cached" => {
                info.cached = Some(value()?);
                required_seen[5] = true;
            }
            "MemAvailable" => info.available = Some(value()?),
            _ => {}
        }
    }
    const REQUIRED: [&str; 6] = [
        "MemTotal",
        "MemFree",
        "Buffers",
        "SwapTotal",
        "SwapFree",
        "Cached",
    ];
    if let Some(missing) = REQUIRED.iter().zip(required_seen).find(|(_, seen)| !seen) {
        return Err(ParseError::new(0, format!("no `{}` line", missing.0)));
    }
    Ok(info)
}

/// `/proc/net/dev`: every interface's counters, appended to `out` (cleared first).
///
/// # Errors
/// When an interface line lacks the `name:` prefix or one of the 16 counters.
pub fn parse_net_dev(text: &str, out: &mut Vec<Network>) -> Result<(), ParseError> {
    out.clear();
    // Two header lines, then `name: rx(8 fields) tx(8 fields)`.
    for (index, line) in text.lines().enumerate().skip(2) {
        let n = index + 1;
        let (name, counters) = line
            .split_once(':')
            .ok_or_else(|| ParseError::new(n, "expected `interface: counters`"))?;
        let mut fields = counters.split_whitespace();
        let direction = |fields: &mut SplitWhitespace<'_>, dir: &str| {
            let what = |field: &str| format!("{dir} {field}");
            let counters = NetworkCounters {
                bytes: next_field(fields, n, &what("bytes"))?,
                packets: next_field(fields, n, &what("packets"))?,
                errors: next_field(fields, n, &what("errs"))?,
                dropped: next_field(fields, n, &what("drop"))?,
            };
            for skipped in [
                "fifo",
                "frame/colls",
                "compressed/carrier",
                "multicast/compressed",
            ] {
                next_field::<u64>(fields, n, &what(skipped))?;
            }
            Ok::<_, ParseError>(counters)
        };
        let received = direction(&mut fields, "receive")?;
        let sent = direction(&mut fields, "transmit")?;
        out.push(Network {
            name: name.trim().to_owned(),
            received,
            sent,
        });
    }
    Ok(())
}

/// `/proc/diskstats`: every device's counters, appended to `out` (cleared first).
///
/// # Errors
/// When a line has fewer than the 14 fields of Linux 2.6.
pub fn parse_diskstats(text: &str, out: &mut Vec<DiskStats>) -> Result<(), ParseError> {
    out.clear();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = index + 1;
        let mut fields = line.split_whitespace();
        next_field::<u64>(&mut fields, n, "major")?;
        next_field::<u64>(&mut fields, n, "minor")?;
        let name = fields
            .next()
            .ok_or_else(|| ParseError::new(n, "missing field `device name`"))?;
        let mut next = |what| next_field::<u64>(&mut fields, n, what);
        let reads = next("reads completed")?;
        let reads_merged = next("reads merged")?;
        let read_sectors = next("sectors read")?;
        let read_time_ms = next("time reading")?;
        let writes = next("writes completed")?;
        let writes_merged = next("writes merged")?;
        let write_sectors = next("sectors written")?;
        let write_time_ms = next("time writing")?;
        let in_progress = next("I/Os in progress")?;
        let io_time_ms = next("time doing I/O")?;
        let weighted_io_time_ms = next("weighted time doing I/O")?;
        out.push(DiskStats {
            name: name.to_owned(),
            reads,
            reads_merged,
            read_sectors,
            read_time_ms,
            writes,
            writes_merged,
            write_sectors,
            write_time_ms,
            in_progress,
            io_time_ms,
            weighted_io_time_ms,
        });
    }
    Ok(())
}

/// `/proc/loadavg`: the three averages; `cores` is left 0 for the caller to fill.
///
/// # Errors
/// When one of the three averages is missing or not a number.
pub fn parse_loadavg(text: &str) -> Result<LoadSnapshot, ParseError> {
    let mut fields = text.split_whitespace();
    Ok(LoadSnapshot {
        one: next_field(&mut fields, 1, "1-minute average")?,
        five: next_field(&mut fields, 1, "5-minute average")?,
        fifteen: next_field(&mut fields, 1, "15-minute average")?,
        cores: 0,
    })
}

/// `/proc/self/mounts`: every mount, appended to `out` (cleared first); the octal escapes of
/// spaces and tabs (`\040`) are decoded.
///
/// # Errors
/// When a line has fewer than four fields.
pub fn parse_mounts(text: &str, out: &mut Vec<Mount>) -> Result<(), ParseError> {
    out.clear();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut next = |what: &str| {
            fields
                .next()
                .ok_or_else(|| ParseError::new(index + 1, format!("missing field `{what}`")))
        };
        out.push(Mount {
            device: unescape_octal(next("device")?),
            mount_point: unescape_octal(next("mount point")?),
            fs_type: next("type")?.to_owned(),
            options: next("options")?.to_owned(),
        });
    }
    Ok(())
}

/// Decodes the kernel's `\ooo` escapes in mount table fields; anything else is kept as is.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match escape.map(|d| d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'))) {
            Some(code) if code <= 0xff => {
                decoded.push(code as u8);
                i += 4;
            }
            _ => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// `/proc/filesystems`: the types marked `nodev` (no backing device: proc, tmpfs, …).
pub fn parse_nodev_types(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("nodev"))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_only_four_states_has_no_optional_ones() {
        let snapshot = parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4\nintr 5\n").expect("valid");
        assert_eq!(snapshot.cores, 1);
        assert_eq!(snapshot.times.idle, 4);
        assert_eq!(snapshot.times.iowait, None);
    }

    #[test]
    fn errors_name_line_and_field() {
        let err = parse_stat("intr 1\ncpu 1 2 x 4\n").expect_err("bad number");
        assert_eq!(
            err.to_string(),
            "line 2: field `system` is not a number: \"x\""
        );
        let err = parse_stat("cpu0 1 2 3 4\n").expect_err("no aggregate");
        assert_eq!(err.to_string(), "line 0: no aggregate `cpu` line");
        let err = parse_meminfo("MemTotal: 1 kB\n").expect_err("incomplete");
        assert_eq!(err.to_string(), "line 0: no `MemFree` line");
        let mut out = Vec::new();
        let err = parse_net_dev("h\nh\n eth0: 1 2 3\n", &mut out).expect_err("short");
        assert_eq!(err.to_string(), "line 3: missing field `receive drop`");
        let err = parse_diskstats("8 0 sda 1 2\n", &mut Vec::new()).expect_err("short");
        assert_eq!(err.to_string(), "line 1: missing field `sectors read`");
        let err = parse_loadavg("0.5 zero").expect_err("bad");
        assert_eq!(
            err.to_string(),
            "line 1: field `5-minute average` is not a number: \"zero\""
        );
    }

    #[test]
    fn mount_escapes_are_decoded() {
        let mut mounts = Vec::new();
        parse_mounts("/dev/sdb1 /media/my\\040disk ext4 rw 0 0\n", &mut mounts).expect("valid");
        assert_eq!(mounts[0].mount_point, "/media/my disk");
        assert_eq!(unescape_octal("a\\\\b\\9"), "a\\\\b\\9");
    }

    /// A poor man's fuzzer: thousands of mutations of a real file (byte flips, cuts,
    /// insertions of the characters the parsers split on) through every parser.
    #[test]
    fn mutated_proc_files_never_panic() {
        let real = [
            "cpu  123011 0 12321 22799 471 0 89 119 0 0\ncpu0 60269 0 5868 12675 195 0 5 59 0 0\n",
            "MemTotal: 24684092 kB\nMemFree: 21478552 kB\nHugePages_Total: 0\n",
            "h\nh\n  eth0: 251306625 13396 0 0 0 0 0 0 811149 7438 0 0 0 0 0 0\n",
            " 254 0 vda 109381 7948 6038666 227445 8302 49620 6481784 34473 0 13952 262878\n",
            "/dev/vda / ext4 rw,relatime 0 0\nnodev\tproc\n2.60 2.31 1.41 5/118 19512\n",
        ];
        let inserts = [b' ', b'\n', b':', b'\\', b'0', b'7', b'-', 0xff];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for _ in 0..3_000 {
            let mut bytes = real[random(real.len())].as_bytes().to_vec();
            for _ in 0..=random(4) {
                let at = random(bytes.len());
                match random(3) {
                    0 => bytes[at] = inserts[random(inserts.len())],
                    1 => bytes.truncate(at),
                    _ => bytes.insert(at, inserts[random(inserts.len())]),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_stat(&text);
            let _ = parse_meminfo(&text);
            let _ = parse_net_dev(&text, &mut Vec::new());
            let _ = parse_diskstats(&text, &mut Vec::new());
            let _ = parse_loadavg(&text);
            let _ = parse_mounts(&text, &mut Vec::new());
            let _ = parse_nodev_types(&text);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let samples = [
            "",
            "\n\n\n",
            "cpu",
            "cpu 1 2 3 4 99999999999999999999999",
            ":",
            "\\",
            "\\04",
            "nodev",
        ];
        for text in samples {
            let _ = parse_stat(text);
            let _ = parse_meminfo(text);
            let _ = parse_net_dev(text, &mut Vec::new());
            let _ = parse_diskstats(text, &mut Vec::new());
            let _ = parse_loadavg(text);
            let _ = parse_mounts(text, &mut Vec::new());
            let _ = parse_nodev_types(text);
        }
    }
}
