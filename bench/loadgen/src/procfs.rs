//! The server's memory and CPU from `/proc`: the process and all its descendants (gunicorn is a
//! master and its workers), plus the load client's own CPU.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the sampler reads the resident set sizes.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// Every this many samples the sampler looks for new descendants.
const RESCAN_EVERY: u64 = 25;
/// Every this many samples one goes into the timeline (every 100 ms).
const TIMELINE_EVERY: u64 = 5;

/// `(ppid, utime + stime ticks)` of a process, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3); ppid is field 4, utime 14, stime 15.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `pid` and all its descendants.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((ppid, _)) = stat(p) {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// Resident set size of one process in KiB (`VmRSS`), if it still exists.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Summed resident set size of the processes, KiB.
pub fn rss_sum(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| rss_kib(*p)).sum()
}

/// Clock ticks per second for `/proc/*/stat` times: `getconf CLK_TCK`, else Linux's usual 100.
pub fn clk_tck() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// CPU ticks (user + system) used so far by the process tree rooted at `pid`.
pub fn tree_cpu_ticks(pid: u32) -> u64 {
    tree(pid).iter().filter_map(|p| stat(*p)).map(|s| s.1).sum()
}

/// Busy CPU ticks of the whole machine so far (every state but idle and iowait), from
/// `/proc/stat`: what neither the server nor the client used was taken by something else.
pub fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    [0, 1, 2, 5, 6, 7].iter().filter_map(|i| v.get(*i)).sum()
}

/// CPU ticks used so far by this process (all its threads).
pub fn self_cpu_ticks() -> u64 {
    stat(std::process::id()).map_or(0, |s| s.1)
}

/// Which phase a sample belongs to.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub enum Phase {
    /// Logins before the measurement.
    Setup = 0,
    /// The measured load.
    Measure = 1,
    /// After the load.
    End = 2,
}

#[derive(Debug, Default)]
struct Shared {
    phase: AtomicU8,
    peaks: [AtomicU64; 3],
    last: AtomicU64,
    samples: AtomicU64,
    processes: AtomicU64,
    stop: AtomicBool,
    timeline: Mutex<Vec<(u64, u8, u64)>>,
}

/// A thread summing the server tree's RSS every 20 ms and keeping the peak of each phase.
pub struct Sampler {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

/// What the sampler saw.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Peak summed RSS during setup, KiB.
    pub peak_setup_kib: u64,
    /// Peak summed RSS during the measured load, KiB.
    pub peak_measure_kib: u64,
    /// Samples taken.
    pub samples: u64,
    /// Processes in the tree at the last rescan.
    pub processes: u64,
    /// Every 100 ms: milliseconds since the start, phase, summed RSS in KiB.
    pub timeline: Vec<(u64, u8, u64)>,
}

impl Sampler {
    /// Starts sampling the tree rooted at `pid`.
    pub fn start(pid: u32) -> Self {
        let shared = Arc::new(Shared::default());
        shared.phase.store(Phase::Setup as u8, Ordering::Relaxed);
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let mut pids = tree(pid);
                let mut n: u64 = 0;
                let start = Instant::now();
                while !s.stop.load(Ordering::Relaxed) {
                    if n.is_multiple_of(RESCAN_EVERY) {
                        pids = tree(pid);
                        s.processes.store(pids.len() as u64, Ordering::Relaxed);
                    }
                    let rss = rss_sum(&pids);
                    let phase = s.phase.load(Ordering::Relaxed).min(2);
                    s.peaks[usize::from(phase)].fetch_max(rss, Ordering::Relaxed);
                    if n.is_multiple_of(TIMELINE_EVERY) {
                        if let Ok(mut t) = s.timeline.lock() {
                            let ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(0);
                            t.push((ms, phase, rss));
                        }
                    }
                    s.last.store(rss, Ordering::Relaxed);
                    s.samples.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
            .ok();
        Self { shared, handle }
    }

    /// Ends the current phase with one last sample (so that short phases are seen), then
    /// moves to `phase`.
    pub fn set_phase(&self, phase: Phase, pid: u32) {
        let rss = rss_sum(&tree(pid));
        let current = usize::from(self.shared.phase.load(Ordering::Relaxed)).min(2);
        self.shared.peaks[current].fetch_max(rss, Ordering::Relaxed);
        self.shared.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// Stops the thread and reports.
    pub fn finish(mut self) -> Memory {
        let timeline = self
            .shared
            .timeline
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        Memory {
            peak_setup_kib: self.shared.peaks[0].load(Ordering::Relaxed),
            peak_measure_kib: self.shared.peaks[1].load(Ordering::Relaxed),
            samples: self.shared.samples.load(Ordering::Relaxed),
            processes: self.shared.processes.load(Ordering::Relaxed),
            timeline,
        }
    }
}
