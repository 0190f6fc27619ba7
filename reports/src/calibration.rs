//! A measured noise floor: what `cnbench calibrate` found of this machine's run-to-run noise,
//! per backend, measurement, path and metric, and the checks that keep a calibration from
//! being used where it does not describe the noise.
//!
//! `compare` assumes by default that whole runs move by 7 % ([`crate::compare::RUN_NOISE`]);
//! a calibration replaces that guess, per metric, by what A/A runs of this machine showed:
//! [`CalibratedNoise::run_to_run`] for `compare`'s noise guard, [`CalibratedNoise::pair_spread`]
//! for the spread floor of `cnbench ab`. A calibration describes one machine and one cnbench
//! version; [`Calibration::usable_here`] refuses any other.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::environment::Environment;

/// Version of the calibration file format.
pub const CALIBRATION_VERSION: u32 = 1;

/// Where `cnbench calibrate` keeps a backend's calibration unless told otherwise, and where
/// `compare` and `ab` look for it: `/var/lib/cnbench/calibration/<backend>.json`.
pub fn default_path(backend: &str) -> PathBuf {
    Path::new("/var/lib/cnbench/calibration").join(format!("{backend}.json"))
}

/// The machine a calibration was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineId {
    /// `/etc/machine-id`, when the machine has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// Host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// CPU model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// CPUs.
    pub cpu_count: u32,
    /// Kernel release.
    pub kernel: String,
}

impl MachineId {
    /// This machine.
    pub fn here(env: &Environment) -> MachineId {
        MachineId {
            machine_id: std::fs::read_to_string("/etc/machine-id")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            hostname: env.hostname.clone(),
            cpu_model: env.cpu_model.clone(),
            cpu_count: env.cpu_count,
            kernel: env.kernel.clone(),
        }
    }

    /// Why `self` (where a calibration was made) is not `here`, or `None` when it is the
    /// same machine: the machine id when both have one, else host name and CPU; and the same
    /// CPU count and kernel either way (both change the noise).
    pub fn differs_from(&self, here: &MachineId) -> Option<String> {
        let same_box = match (&self.machine_id, &here.machine_id) {
            (Some(a), Some(b)) => a == b,
            _ => self.hostname == here.hostname && self.cpu_model == here.cpu_model,
        };
        if !same_box {
            return Some(format!(
                "it was measured on another machine ({})",
                self.hostname.as_deref().unwrap_or("unnamed")
            ));
        }
        if self.cpu_count != here.cpu_count {
            return Some(format!(
                "it was measured with {} CPUs and this process has {}",
                self.cpu_count, here.cpu_count
            ));
        }
        if self.kernel != here.kernel {
            return Some(format!(
                "it was measured under kernel {} and this is {}",
                self.kernel, here.kernel
            ));
        }
        None
    }
}

/// The noise of one metric of one measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibratedNoise {
    /// The measurement's label (`tcp-rr`, `udp-stream 64 B`).
    pub measurement: String,
    /// `same-node` or `cross-node`.
    pub path: String,
    /// Metric name with its unit.
    pub metric: String,
    /// How far one run's figure moves from the next run's of the same build: the standard
    /// deviation of the natural logarithms of every run's value (about the coefficient of
    /// variation), or of the values / 100 for percentages. Used by `compare` as its noise
    /// floor for this metric.
    pub run_to_run: f64,
    /// How far the change between the two runs of an interleaved A/A pair scatters: the
    /// standard deviation of the pairs' log-ratios (differences / 100 for percentages).
    /// Half of it is `cnbench ab`'s spread floor.
    pub pair_spread: f64,
    /// Runs behind these figures.
    pub runs: u32,
}

/// What `cnbench calibrate` measured: A/A runs of one backend on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// [`CALIBRATION_VERSION`].
    pub calibration_version: u32,
    /// The cnbench version that measured it.
    pub cnbench_version: String,
    /// Its git revision, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// The machine.
    pub machine: MachineId,
    /// When, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The backend calibrated.
    pub backend: String,
    /// The `cnbench run` arguments every run had.
    pub run_args: Vec<String>,
    /// Interleaved A/A pairs measured.
    pub pairs: u32,
    /// One entry per metric of each measurement.
    pub noise: Vec<CalibratedNoise>,
}

/// Why a calibration cannot be used. Every message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The file could not be read.
    #[error("calibration {path}: {source}; give a file `cnbench calibrate` wrote, or run it")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a calibration.
    #[error("calibration {path} is not a calibration file ({why}); run `cnbench calibrate` to write one")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Made elsewhere, by another cnbench, or for another backend.
    #[error(
        "calibration {path} does not describe this comparison: {why}; run `cnbench calibrate \
         --backend {backend}` on this machine with this cnbench (or pass --no-calibration to \
         use the fixed noise floor)"
    )]
    NotHere {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
        /// The backend to calibrate.
        backend: String,
    },
}

impl Calibration {
    /// Reads a calibration file.
    pub fn read(path: &Path) -> Result<Calibration, CalibrationError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalibrationError::Read {
            path: path.to_owned(),
            source,
        })?;
        let c: Calibration = serde_json::from_str(&text).map_err(|e| CalibrationError::Parse {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        if c.calibration_version != CALIBRATION_VERSION {
            return Err(CalibrationError::Parse {
                path: path.to_owned(),
                why: format!(
                    "format version {}, this cnbench reads {CALIBRATION_VERSION}",
                    c.calibration_version
                ),
            });
        }
        Ok(c)
    }

    /// Refuses a calibration of another machine, cnbench version or backend.
    pub fn usable_here(
        &self,
        path: &Path,
        here: &MachineId,
        cnbench_version: &str,
        backend: &str,
    ) -> Result<(), CalibrationError> {
        let why = if let Some(why) = self.machine.differs_from(here) {
            Some(why)
        } else if self.cnbench_version != cnbench_version {
            Some(format!(
                "it was measured by cnbench {} and this is {cnbench_version}",
                self.cnbench_version
            ))
        } else if self.backend != backend {
            Some(format!(
                "it calibrates backend {} and the results are of {backend}",
                self.backend
            ))
        } else {
            None
        };
        match why {
            Some(why) => Err(CalibrationError::NotHere {
                path: path.to_owned(),
                why,
                backend: backend.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// The noise of one metric of one measurement, if calibrated.
    pub fn noise_of(
        &self,
        measurement: &str,
        path: &str,
        metric: &str,
    ) -> Option<&CalibratedNoise> {
        self.noise
            .iter()
            .find(|n| n.measurement == measurement && n.path == path && n.metric == metric)
    }

    /// One line for reports: `cnbench calibrate of 2026-12-06 (12 pairs, FILE)`.
    pub fn describe(&self, path: &Path) -> String {
        format!(
            "measured by cnbench calibrate ({} A/A pairs of {}, {})",
            self.pairs,
            self.backend,
            path.display()
        )
    }
}

/// The standard deviation of `values` (n - 1 in the denominator), 0 with fewer than two.
pub fn sample_sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> MachineId {
        MachineId {
            machine_id: Some("abc".into()),
            hostname: Some("box".into()),
            cpu_model: Some("cpu".into()),
            cpu_count: 2,
            kernel: "6.1.0".into(),
        }
    }

    fn calibration() -> Calibration {
        Calibration {
            calibration_version: CALIBRATION_VERSION,
            cnbench_version: "0.1.0".into(),
            git_revision: None,
            machine: machine(),
            created_unix_ms: 0,
            backend: "vxlan".into(),
            run_args: vec![],
            pairs: 6,
            noise: vec![CalibratedNoise {
                measurement: "tcp-rr".into(),
                path: "cross-node".into(),
                metric: "rtt_p50_ns".into(),
                run_to_run: 0.021,
                pair_spread: 0.015,
                runs: 12,
            }],
        }
    }

    #[test]
    fn another_machine_version_or_backend_is_refused_with_the_fix() {
        let c = calibration();
        let p = Path::new("/x.json");
        assert!(c.usable_here(p, &machine(), "0.1.0", "vxlan").is_ok());
        let mut other = machine();
        other.machine_id = Some("def".into());
        let e = c.usable_here(p, &other, "0.1.0", "vxlan").unwrap_err();
        assert!(e.to_string().contains("another machine"), "{e}");
        assert!(
            e.to_string().contains("cnbench calibrate --backend vxlan"),
            "{e}"
        );
        let e = c.usable_here(p, &machine(), "0.2.0", "vxlan").unwrap_err();
        assert!(
            e.to_string().contains("cnbench 0.1.0 and this is 0.2.0"),
            "{e}"
        );
        let e = c.usable_here(p, &machine(), "0.1.0", "bridge").unwrap_err();
        assert!(e.to_string().contains("backend vxlan"), "{e}");
        let mut kernel = machine();
        kernel.kernel = "6.2".into();
        assert!(c.usable_here(p, &kernel, "0.1.0", "vxlan").is_err());
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let dir = crate::fixtures::TempDir::new();
        let path = dir.0.join("c.json");
        std::fs::write(&path, serde_json::to_string(&calibration()).unwrap()).unwrap();
        let c = Calibration::read(&path).unwrap();
        assert_eq!(c, calibration());
        assert_eq!(
            c.noise_of("tcp-rr", "cross-node", "rtt_p50_ns")
                .unwrap()
                .run_to_run,
            0.021
        );
        std::fs::write(&path, "{}").unwrap();
        assert!(Calibration::read(&path)
            .unwrap_err()
            .to_string()
            .contains("not a calibration file"));
    }
}
