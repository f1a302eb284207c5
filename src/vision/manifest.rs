//! `models/models.toml`: what each model file is and how to feed it. The pipeline reads sizes,
//! normalisation, layouts, templates and thresholds from here, so another model of the same kind
//! can be swapped in by editing the manifest. Every model file is checked against its sha256
//! before it is loaded.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::blazeface::Tiling;
use crate::error::{Error, Result};

pub const MANIFEST_FILE: &str = "models.toml";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub detector: DetectorSpec,
    pub embedder: EmbedderSpec,
    /// Folder holding the manifest (model files are relative to it).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Tensor layout of an image input.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nhwc,
    Nchw,
}

/// How input pixels (RGB, 0–255) become model values: `(pixel − mean) / std` per channel.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    pub size: usize,
    pub layout: Layout,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl InputSpec {
    pub fn normalise(&self, rgb: [f32; 3]) -> [f32; 3] {
        [0, 1, 2].map(|c| (rgb[c] - self.mean[c]) / self.std[c])
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub id: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    #[serde(flatten)]
    pub model: ModelFile,
    /// Decoder family; only "blazeface" (single-scale anchor grid, 6 keypoints) exists today.
    pub family: String,
    pub input: InputSpec,
    pub anchor_grid: usize,
    pub output_regressors: String,
    pub output_logits: String,
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// How photos are cut into tiles (see `blazeface::tile_frames`).
    pub tiling: Tiling,
    /// Detections scoring below this get a second look (see `verify_min_mean`).
    pub verify_below: f32,
    /// A second look runs the detector on six crops around the face (three sizes, each
    /// mirrored); the face is kept when its mean best score there reaches this value.
    pub verify_min_mean: f32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderSpec {
    #[serde(flatten)]
    pub model: ModelFile,
    pub input: InputSpec,
    pub output: String,
    pub dim: usize,
    /// Alignment template in chip pixel coordinates, one point per entry of `keypoints`.
    pub template: Vec<[f32; 2]>,
    /// Which detector keypoints (by index) map to the template points.
    pub keypoints: Vec<usize>,
    /// Average the embeddings of the chip and its mirror image.
    pub flip_average: bool,
    /// Default cosine similarity at or above which two faces are taken as the same person.
    pub match_threshold: f32,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let mut m: Manifest =
            toml::from_str(&text).map_err(|e| Error::Model { path: path.clone(), reason: e.to_string() })?;
        m.dir = dir.to_path_buf();
        m.validate().map_err(|reason| Error::Model { path, reason })?;
        Ok(m)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let e = &self.embedder;
        if self.detector.family != "blazeface" {
            return Err(format!("unknown detector family {:?}", self.detector.family));
        }
        if e.template.len() != e.keypoints.len() || e.template.len() < 2 {
            return Err("embedder.template and embedder.keypoints must pair up (at least 2 points)".into());
        }
        if let Some(k) = e.keypoints.iter().find(|&&k| k >= super::geometry::NUM_KEYPOINTS) {
            return Err(format!("embedder.keypoints: no detector keypoint {k}"));
        }
        Ok(())
    }

    /// Identifies everything that shapes a stored embedding; photos indexed under another
    /// pipeline id are processed again.
    pub fn pipeline_id(&self) -> String {
        let d = &self.detector;
        let text = format!(
            "{}:{}|{}:{}|{:?}|{}|{}|{:?}|{}|{}|{:?}|{:?}",
            d.model.id, d.model.sha256, self.embedder.model.id, self.embedder.model.sha256,
            d.input.size, d.score_threshold, d.nms_iou, d.tiling, d.verify_below, d.verify_min_mean,
            self.embedder.template, self.embedder.flip_average,
        );
        hex(&Sha256::digest(text.as_bytes()))[..16].to_string()
    }

    /// Reads a model file and checks it against the manifest's sha256.
    pub fn read_verified(&self, model: &ModelFile) -> Result<Vec<u8>> {
        let path = self.dir.join(&model.file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let actual = hex(&Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&model.sha256) {
            return Err(Error::Model {
                path,
                reason: format!(
                    "sha256 is {actual}, the manifest expects {}; regenerate it with scripts/setup.sh",
                    model.sha256
                ),
            });
        }
        Ok(bytes)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
