//! Running a detector over a HICO-DET image folder, resumably.
//!
//! Each image's predictions are appended to a JSON-lines file (one
//! [`super::predictions::ImagePredictions`] per line) and flushed as soon as they exist. A
//! run that is interrupted loses at most the image it was working on: the next run reads the
//! file, drops a torn last line (one without its newline), and continues with the images
//! that have no line yet. The result is the same as an uninterrupted run's.
//!
//! Decoding and preprocessing run on a second thread one batch ahead of the model
//! ([`crate::detector::pipeline`]).

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ids::HoiTable;
use super::predictions::{
    CategoryMeaning, ImagePredictions, Predictions, jsonl_line, parse_image, write_err,
};
use crate::detector::{Batching, HoiDetection, HoiDetector, Pipeline, detect_pipelined};
use crate::error::{HoiclipError, Result};

/// Where a run stands, passed to the progress callback after every image.
#[derive(Debug, Clone, Copy)]
pub struct RunProgress<'a> {
    /// Images done, resumed ones included.
    pub done: usize,
    /// Images in the run.
    pub total: usize,
    /// Images found already done in the output file when the run started.
    pub resumed: usize,
    /// The image just finished (empty for the first call, made right after resuming).
    pub image: &'a str,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// All predictions in the output file (resumed and new), in file order.
    pub predictions: Predictions,
    /// Images found already done.
    pub resumed: usize,
    /// Images detected by this run.
    pub processed: usize,
    /// Whether a torn last line was dropped from the output file.
    pub repaired: bool,
}

/// A resumable detection run: an image folder and a JSON-lines output file.
#[derive(Debug, Clone)]
pub struct DetectionRun {
    image_dir: PathBuf,
    output: PathBuf,
    batching: Batching,
    in_flight: usize,
}

impl DetectionRun {
    /// Images are read from `image_dir/<file_name>`; predictions go to `output` (JSON lines).
    pub fn new(image_dir: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        Self {
            image_dir: image_dir.into(),
            output: output.into(),
            batching: Batching::InOrder(1),
            in_flight: 1,
        }
    }

    /// Consecutive images per batch (default 1; at least 1), padded to the largest as the
    /// authors' evaluation does: [`Batching::InOrder`]. Each batch is written when it is
    /// done.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batching = Batching::InOrder(batch_size.max(1));
        self
    }

    /// How images are batched ([`Batching`]). With [`Batching::SameSize`] the output file
    /// lists images in the order they finished, not the input order (the predictions are
    /// the same whatever the order).
    pub fn batching(mut self, batching: Batching) -> Self {
        self.batching = batching;
        self
    }

    /// Batches run at once (default 1; see [`Pipeline`]); with more than one, the output file
    /// lists images in the order they finished.
    pub fn in_flight(mut self, in_flight: usize) -> Self {
        self.in_flight = in_flight.max(1);
        self
    }

    /// The output file.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Reads what a previous run wrote: the predictions of its complete lines, and the byte
    /// length those lines cover (a torn last line lies beyond it). A missing file is empty.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Io`] when the file exists but cannot be read; [`HoiclipError::Config`]
    /// naming the line when a complete line is malformed or repeats an image.
    pub fn read_existing(&self) -> Result<(Predictions, u64)> {
        let (records, len) = self.read_existing_records::<ImagePredictions>()?;
        Ok((Predictions::from_images(records)?, len))
    }

    /// As [`Self::read_existing`], for any record type.
    ///
    /// # Errors
    ///
    /// As [`Self::read_existing`].
    pub fn read_existing_records<R: RunRecord>(&self) -> Result<(Vec<R>, u64)> {
        let bytes = match std::fs::read(&self.output) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), 0));
            }
            Err(source) => {
                return Err(HoiclipError::Io {
                    path: self.output.clone(),
                    source,
                });
            }
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let mut records = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (n, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
                HoiclipError::Config(format!(
                    "{}: line {}: not valid JSON: {e}",
                    self.output.display(),
                    n + 1
                ))
            })?;
            let record = R::from_json(&value, n, &self.output)?;
            if let Some(first) = seen.insert(record.filename().to_string(), n) {
                return Err(HoiclipError::Config(format!(
                    "{}: line {}: image {} repeats line {}",
                    self.output.display(),
                    n + 1,
                    record.filename(),
                    first + 1
                )));
            }
            records.push(record);
        }
        Ok((records, complete as u64))
    }

    /// Runs `detector` on every image of `file_names` that the output file does not hold
    /// yet, appending each result, then returns everything the file holds.
    ///
    /// `on_progress` is called once after resuming and after every image.
    ///
    /// # Errors
    ///
    /// As [`DetectionRun::read_existing`]; [`HoiclipError::Image`] for an image that cannot
    /// be opened or decoded; the detector's error; [`HoiclipError::Write`] when the output
    /// cannot be written. Everything finished before the error stays in the file.
    pub fn run<D, F>(
        &self,
        detector: &D,
        file_names: &[String],
        on_progress: F,
    ) -> Result<RunOutcome>
    where
        D: HoiDetector + ?Sized,
        F: FnMut(&RunProgress<'_>),
    {
        let outcome =
            self.run_records::<ImagePredictions, D, F>(detector, file_names, on_progress)?;
        Ok(RunOutcome {
            predictions: Predictions::from_images(outcome.records)?,
            resumed: outcome.resumed,
            processed: outcome.processed,
            repaired: outcome.repaired,
        })
    }

    /// As [`Self::run`], writing one `R` per image (e.g. V-COCO's per-pair records).
    ///
    /// # Errors
    ///
    /// As [`Self::run`].
    pub fn run_records<R, D, F>(
        &self,
        detector: &D,
        file_names: &[String],
        mut on_progress: F,
    ) -> Result<RecordRunOutcome<R>>
    where
        R: RunRecord,
        D: HoiDetector + ?Sized,
        F: FnMut(&RunProgress<'_>),
    {
        let (mut records, valid_len) = self.read_existing_records::<R>()?;
        let on_disk = std::fs::metadata(&self.output)
            .map(|m| m.len())
            .unwrap_or(0);
        let repaired = on_disk > valid_len;
        if repaired {
            let f = OpenOptions::new()
                .write(true)
                .open(&self.output)
                .map_err(|e| write_err(&self.output, e))?;
            f.set_len(valid_len)
                .map_err(|e| write_err(&self.output, e))?;
        }
        let wanted: HashSet<&str> = file_names.iter().map(String::as_str).collect();
        let mut have: HashSet<String> = records.iter().map(|r| r.filename().to_string()).collect();
        let resumed = records
            .iter()
            .filter(|r| wanted.contains(r.filename()))
            .count();
        let todo: Vec<&String> = file_names
            .iter()
            .filter(|f| !have.contains(f.as_str()))
            .collect();
        let total = resumed + todo.len();
        let mut done = resumed;
        on_progress(&RunProgress {
            done,
            total,
            resumed,
            image: "",
        });
        if let Some(parent) = self.output.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| write_err(&self.output, e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.output)
            .map_err(|e| write_err(&self.output, e))?;
        let mut processed = 0;
        detect_pipelined(
            detector,
            &todo,
            Pipeline {
                batching: self.batching,
                in_flight: self.in_flight,
            },
            |name| load_image(&self.image_dir.join(name.as_str())),
            |indices, results| {
                for (&i, dets) in indices.iter().zip(results) {
                    let name = todo[i];
                    if !have.insert(name.to_string()) {
                        // A name listed twice is detected once.
                        continue;
                    }
                    let record = R::from_detections(name.as_str(), &dets)?;
                    let mut line = record.to_json_line()?;
                    line.push('\n');
                    file.write_all(line.as_bytes())
                        .and_then(|()| file.flush())
                        .map_err(|e| write_err(&self.output, e))?;
                    records.push(record);
                    processed += 1;
                    done += 1;
                    on_progress(&RunProgress {
                        done,
                        total,
                        resumed,
                        image: name,
                    });
                }
                Ok(())
            },
        )?;
        Ok(RecordRunOutcome {
            records,
            resumed,
            processed,
            repaired,
        })
    }
}

/// What a run writes for one image and reads back when it resumes.
pub trait RunRecord: Sized {
    /// The record of one image's detections.
    ///
    /// # Errors
    ///
    /// When the detections cannot be represented (the record type says which).
    fn from_detections(filename: &str, detections: &[HoiDetection]) -> Result<Self>;

    /// The image's file name (unique within a run).
    fn filename(&self) -> &str;

    /// One JSON line, without the newline.
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] when the record cannot be serialised.
    fn to_json_line(&self) -> Result<String>;

    /// Parses a line written by [`Self::to_json_line`] (`line`: 0-based, for messages).
    ///
    /// # Errors
    ///
    /// [`HoiclipError::Config`] naming the file, line and field at fault.
    fn from_json(value: &serde_json::Value, line: usize, file: &Path) -> Result<Self>;
}

impl RunRecord for ImagePredictions {
    fn from_detections(filename: &str, detections: &[HoiDetection]) -> Result<Self> {
        Ok(ImagePredictions::from_detections(filename, detections))
    }

    fn filename(&self) -> &str {
        &self.filename
    }

    fn to_json_line(&self) -> Result<String> {
        jsonl_line(self)
    }

    fn from_json(value: &serde_json::Value, line: usize, file: &Path) -> Result<Self> {
        let (img, _) = parse_image(value, line, file, CategoryMeaning::Hoi, &HoiTable::new())?;
        Ok(img)
    }
}

/// What [`DetectionRun::run_records`] produced.
#[derive(Debug, Clone)]
pub struct RecordRunOutcome<R> {
    /// Every record in the output file (resumed and new), in file order.
    pub records: Vec<R>,
    /// Images found already done.
    pub resumed: usize,
    /// Images detected by this run.
    pub processed: usize,
    /// Whether a torn last line was dropped from the output file.
    pub repaired: bool,
}

/// Opens an image, trusting its content over its extension.
fn load_image(path: &Path) -> Result<image::DynamicImage> {
    let what = || path.display().to_string();
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| HoiclipError::Image {
            what: what(),
            reason: e.to_string(),
        })?;
    reader.decode().map_err(|e| HoiclipError::Image {
        what: what(),
        reason: e.to_string(),
    })
}
