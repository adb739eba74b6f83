//! Printing figures, ratios and whether each target holds.

use std::time::Duration;

/// A measured value, with the direction that counts as better.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Figure {
    Micros(Duration),
    Millis(Duration),
    /// Events per second (higher is better).
    Rate(f64),
    /// Bytes of memory.
    Mib(u64),
    /// Bytes of payload.
    Bytes(u64),
    /// Tokens of an agent's context (an estimate).
    Tokens(u64),
}

impl Figure {
    fn value(self) -> f64 {
        match self {
            Figure::Micros(d) | Figure::Millis(d) => d.as_secs_f64(),
            Figure::Rate(r) => r,
            Figure::Mib(b) | Figure::Bytes(b) | Figure::Tokens(b) => b as f64,
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Figure::Rate(_))
    }

    fn show(self) -> String {
        match self {
            Figure::Micros(d) if d < Duration::from_micros(100) => {
                format!("{:.1} µs", d.as_secs_f64() * 1e6)
            }
            Figure::Micros(d) => format!("{:.0} µs", d.as_secs_f64() * 1e6),
            Figure::Millis(d) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
            Figure::Rate(r) => format!("{r:.0}/s"),
            Figure::Mib(b) => format!("{:.1} MiB", b as f64 / 1048576.0),
            Figure::Bytes(b) => format!("{b} B"),
            Figure::Tokens(t) => format!("≈{t} tok"),
        }
    }
}

/// What a row compares ours against: Python 0.1, or a goal computed from
/// other figures of the same run. Six characters, so the columns line up.
const PYTHON: &str = "python";
const GOAL: &str = "goal  ";

/// One line of the report.
pub(crate) struct Row {
    name: &'static str,
    ours: Figure,
    /// What ours is compared with (None: nothing).
    baseline: Option<Figure>,
    /// What `baseline` is: [`PYTHON`] or [`GOAL`].
    against: &'static str,
    target: &'static str,
    /// ours ÷ baseline must be ≥ this for rates, ≤ this for times and sizes;
    /// 0 means informational.
    bound: f64,
}

impl Row {
    pub(crate) fn new(
        name: &'static str,
        ours: Figure,
        python: Figure,
        target: &'static str,
        bound: f64,
    ) -> Row {
        Row {
            name,
            ours,
            baseline: Some(python),
            against: PYTHON,
            target,
            bound,
        }
    }

    /// A figure of ours alone (no target).
    pub(crate) fn ours_only(name: &'static str, ours: Figure) -> Row {
        Row {
            name,
            ours,
            baseline: None,
            against: PYTHON,
            target: "",
            bound: 0.0,
        }
    }

    /// Ours against a goal worked out from this run's other figures: holds
    /// when ours is at most `goal` (at least, for rates).
    pub(crate) fn goal(
        name: &'static str,
        ours: Figure,
        goal: Figure,
        target: &'static str,
    ) -> Row {
        Row {
            name,
            ours,
            baseline: Some(goal),
            against: GOAL,
            target,
            bound: 1.0,
        }
    }

    fn ratio(&self) -> f64 {
        self.baseline
            .map_or(f64::NAN, |p| self.ours.value() / p.value())
    }

    fn verdict(&self) -> &'static str {
        let r = self.ratio();
        if self.bound == 0.0 || r.is_nan() {
            return "";
        }
        let holds = match self.ours.higher_is_better() {
            true => r >= self.bound,
            false => r <= self.bound,
        };
        if holds {
            "holds"
        } else {
            "MISSED"
        }
    }

    pub(crate) fn print(&self) {
        let ratio = match self.ratio() {
            r if r.is_nan() => "—".to_string(),
            r => format!("{r:.3}"),
        };
        println!(
            "{:<28} ours {:>12}   {} {:>12}   ours/{} {:>8}   {:<13} {}",
            self.name,
            self.ours.show(),
            self.against,
            self.baseline.map_or_else(|| "—".to_string(), Figure::show),
            self.against,
            ratio,
            self.target,
            self.verdict()
        );
    }
}

/// Prints the table again, together, after all workloads.
pub(crate) fn summary(rows: &[Row]) {
    println!("\nsummary:");
    for row in rows {
        row.print();
    }
}
