//! The results of the official V-COCO evaluation: agent AP per action, role AP per (action,
//! role) in Scenario 1 and 2, and the means, as a serialisable [`VcocoOfficialReport`], a
//! summary table and `vsrl_eval.py`'s own printout.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The agent AP of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentAp {
    /// `action_name`.
    pub action: String,
    /// All-point VOC AP in `[0, 1]` (a float32 value, as `vsrl_eval.py` stores it); `None`
    /// when the action has no positive (`vsrl_eval.py` fails an assertion there).
    pub ap: Option<f64>,
    /// Annotated persons doing the action in the split (`#pos`).
    pub npos: usize,
    /// Detections ranked (valid score, not matched to an unannotated person).
    pub num_detections: usize,
    /// True positives among them.
    pub num_tp: usize,
}

/// The role AP of one (action, role) in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleAp {
    /// `action_name`.
    pub action: String,
    /// The role, `"obj"` or `"instr"`.
    pub role: String,
    /// All-point VOC AP in `[0, 1]` (float32 value); `None` when the action has no
    /// positive.
    pub ap: Option<f64>,
    /// Annotated persons doing the action (the action's `#pos`, the same for its roles).
    pub npos: usize,
    /// Detections ranked (valid role score, not matched to an unannotated person).
    pub num_detections: usize,
    /// True positives among them.
    pub num_tp: usize,
}

/// How a detection is judged when the matched person's role has no ground-truth object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scenario {
    /// Scenario 1: correct only if the predicted role box is empty (four NaNs or four
    /// zeros).
    #[serde(rename = "scenario_1")]
    One,
    /// Scenario 2: correct whatever the predicted role box.
    #[serde(rename = "scenario_2")]
    Two,
}

impl Scenario {
    /// `vsrl_eval.py`'s `eval_type` string: `"scenario_1"` / `"scenario_2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::One => "scenario_1",
            Scenario::Two => "scenario_2",
        }
    }
}

/// The role APs of one scenario and their mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Which scenario.
    pub scenario: Scenario,
    /// Every (action, role) with a role, in file order (actions, then their roles).
    pub roles: Vec<RoleAp>,
    /// `np.nanmean` of the role APs (float32): the mean over the (action, role) entries
    /// with an AP, each role of a two-role action counting once. `None` without any.
    pub mean_ap: Option<f64>,
    /// `np.nanmean(role_ap) * 100` in float32: the number printed as
    /// `Average Role [scenario_x] AP`.
    pub mean_ap_percent: Option<f64>,
}

impl ScenarioReport {
    /// Number of (action, role) entries with an AP (those in the mean).
    pub fn num_in_mean(&self) -> usize {
        self.roles.iter().filter(|r| r.ap.is_some()).count()
    }
}

/// Everything one official V-COCO evaluation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VcocoOfficialReport {
    /// `"vcoco-official"`.
    pub protocol: String,
    /// The IoU threshold (0.5 in the official protocol).
    pub ovr_thresh: f64,
    /// Images of the split.
    pub num_images: usize,
    /// Detections on the split's images.
    pub num_detections: usize,
    /// Detections on other images (ignored, as `vsrl_eval.py` ignores them).
    pub num_detections_outside_split: usize,
    /// Agent AP of every action, in file order.
    pub agent: Vec<AgentAp>,
    /// `nansum(agent_ap) / num_actions`: the mean over ALL actions (an action without an
    /// AP counts as 0), from the float32 sum.
    pub mean_agent_ap: f64,
    /// `nansum(agent_ap) * 100 / num_actions` in float32: the number printed as
    /// `Average Agent AP`.
    pub mean_agent_ap_percent: f64,
    /// Role AP, Scenario 1.
    pub scenario_1: ScenarioReport,
    /// Role AP, Scenario 2.
    pub scenario_2: ScenarioReport,
}

/// A percentage as `vsrl_eval.py` prints it: the float32 AP times 100 in float32, two
/// decimals (`nan` for a missing value).
fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{:.2}", f64::from(v as f32 * 100.0f32)),
        None => "nan".to_string(),
    }
}

/// An already-computed percentage, two decimals (`nan` for a missing value).
fn two(v: Option<f64>) -> String {
    v.map_or("nan".to_string(), |v| format!("{v:.2}"))
}

impl VcocoOfficialReport {
    /// A human-readable table: the three means, then per action the agent AP and, per
    /// role, the Scenario 1 and 2 role APs (percent).
    pub fn summary_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{} (IoU >= {})", self.protocol, self.ovr_thresh);
        let _ = writeln!(
            s,
            "  images {}, detections {} (ignored outside the split: {})",
            self.num_images, self.num_detections, self.num_detections_outside_split
        );
        let _ = writeln!(
            s,
            "  {:<28} {:>7}  ({} actions)",
            "Average Agent AP",
            two(Some(self.mean_agent_ap_percent)),
            self.agent.len()
        );
        for sc in [&self.scenario_1, &self.scenario_2] {
            let _ = writeln!(
                s,
                "  {:<28} {:>7}  ({} roles)",
                format!("Average Role AP [{}]", sc.scenario.as_str()),
                two(sc.mean_ap_percent),
                sc.num_in_mean()
            );
        }
        let _ = writeln!(
            s,
            "  {:<18} {:>8}  {:<6} {:>7} {:>7} {:>6}",
            "action", "agent", "role", "S1", "S2", "#pos"
        );
        for a in &self.agent {
            let roles: Vec<(&RoleAp, &RoleAp)> = self
                .scenario_1
                .roles
                .iter()
                .zip(&self.scenario_2.roles)
                .filter(|(r, _)| r.action == a.action)
                .collect();
            if roles.is_empty() {
                let _ = writeln!(
                    s,
                    "  {:<18} {:>8}  {:<6} {:>7} {:>7} {:>6}",
                    a.action,
                    pct(a.ap),
                    "-",
                    "",
                    "",
                    a.npos
                );
            }
            for (k, (r1, r2)) in roles.iter().enumerate() {
                let (name, agent) = if k == 0 {
                    (a.action.as_str(), pct(a.ap))
                } else {
                    ("", String::new())
                };
                let _ = writeln!(
                    s,
                    "  {:<18} {:>8}  {:<6} {:>7} {:>7} {:>6}",
                    name,
                    agent,
                    r1.role,
                    pct(r1.ap),
                    pct(r2.ap),
                    a.npos
                );
            }
        }
        s
    }

    /// The text `vsrl_eval.py`'s `_do_eval` prints (agent block, then the Scenario 1 and
    /// Scenario 2 role blocks), character for character.
    pub fn vsrl_eval_printout(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "---------Reporting Agent AP (%)------------------");
        for a in &self.agent {
            let _ = writeln!(
                s,
                "{:>20}: AP = {} (#pos = {})",
                a.action,
                pct(a.ap),
                a.npos
            );
        }
        let _ = writeln!(
            s,
            "Average Agent AP = {}",
            two(Some(self.mean_agent_ap_percent))
        );
        let _ = writeln!(s, "---------------------------------------------");
        for sc in [&self.scenario_1, &self.scenario_2] {
            let _ = writeln!(s, "---------Reporting Role AP (%)------------------");
            for r in &sc.roles {
                let _ = writeln!(
                    s,
                    "{:>23}: AP = {} (#pos = {})",
                    format!("{}-{}", r.action, r.role),
                    pct(r.ap),
                    r.npos
                );
            }
            let _ = writeln!(
                s,
                "Average Role [{}] AP = {}",
                sc.scenario.as_str(),
                two(sc.mean_ap_percent)
            );
            let _ = writeln!(s, "---------------------------------------------");
        }
        s
    }
}
