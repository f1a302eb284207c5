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
    /// Side of the square input; 0 for a model that takes any size (RetinaFace).
    #[serde(default)]
    pub size: usize,
    pub layout: Layout,
    /// Channel order the model expects ("rgb" or "bgr"); `mean` and `std` are in that order.
    #[serde(default)]
    pub channels: Channels,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// What fills the input outside the photo: black, or the mean colour (0 after normalising).
    #[serde(default)]
    pub pad: Pad,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Channels {
    #[default]
    Rgb,
    Bgr,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pad {
    #[default]
    Black,
    Mean,
}

impl InputSpec {
    /// Model values for an RGB sample (0–255), in the model's channel order; `None` (outside the
    /// photo) gives the padding.
    pub fn normalise(&self, rgb: Option<[f32; 3]>) -> [f32; 3] {
        let rgb = match (rgb, self.pad) {
            (Some(v), _) => v,
            (None, Pad::Black) => [0.0; 3],
            (None, Pad::Mean) => return [0.0; 3],
        };
        let ordered = match self.channels {
            Channels::Rgb => rgb,
            Channels::Bgr => [rgb[2], rgb[1], rgb[0]],
        };
        [0, 1, 2].map(|c| (ordered[c] - self.mean[c]) / self.std[c])
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
    /// Decoder family: "retinaface" or "blazeface"; its settings are in the sub-table of that name.
    pub family: String,
    /// A detection scoring at least this is a face.
    pub score_threshold: f32,
    /// A detection scoring at least this but below `score_threshold` is a possible face: stored,
    /// shown, never clustered automatically, and it blocks the gate until a person reviews it.
    pub possible_threshold: f32,
    pub nms_iou: f32,
    pub retinaface: Option<RetinafaceSpec>,
    pub blazeface: Option<BlazefaceSpec>,
}

/// The decoder family of a detector, with its settings.
#[derive(Clone, Copy, Debug)]
pub enum Family<'a> {
    RetinaFace(&'a RetinafaceSpec),
    BlazeFace(&'a BlazefaceSpec),
}

impl DetectorSpec {
    pub fn family(&self) -> Family<'_> {
        match (&self.retinaface, &self.blazeface) {
            (Some(r), _) if self.family == "retinaface" => Family::RetinaFace(r),
            (_, Some(b)) if self.family == "blazeface" => Family::BlazeFace(b),
            _ => unreachable!("validated at load"),
        }
    }

    /// Number of keypoints a detection of this family has.
    pub fn keypoints(&self) -> usize {
        match self.family() {
            Family::RetinaFace(_) => super::retinaface::KEYPOINTS,
            Family::BlazeFace(_) => super::blazeface::KEYPOINTS,
        }
    }
}

/// RetinaFace: a fully convolutional detector run on whole photos at a few scales (see
/// `retinaface::passes`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetinafaceSpec {
    pub input: InputSpec,
    pub output_loc: String,
    pub output_conf: String,
    pub output_landmarks: String,
    /// Feature strides and the square anchor sizes (input pixels) of each.
    pub steps: Vec<usize>,
    pub anchor_sizes: Vec<Vec<f32>>,
    /// Box-offset variances (centre, size).
    pub variance: [f32; 2],
    pub scales: super::retinaface::Scales,
    pub verify: super::retinaface::Verify,
    pub portrait: Vec<super::retinaface::Portrait>,
}

/// MediaPipe BlazeFace: a 192 px detector run on the whole photo and on tiles.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlazefaceSpec {
    pub input: InputSpec,
    pub anchor_grid: usize,
    pub output_regressors: String,
    pub output_logits: String,
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
        let d = &self.detector;
        match (d.family.as_str(), &d.retinaface, &d.blazeface) {
            ("retinaface", Some(_), None) | ("blazeface", None, Some(_)) => {}
            ("retinaface" | "blazeface", _, _) => {
                return Err(format!("detector family {:?} needs exactly its own [detector.{}] table", d.family, d.family))
            }
            (other, _, _) => return Err(format!("unknown detector family {other:?}")),
        }
        if !(0.0 < d.possible_threshold && d.possible_threshold <= d.score_threshold) {
            return Err("detector.possible_threshold must be above 0 and at most score_threshold".into());
        }
        if e.input.size == 0 {
            return Err("embedder.input.size must be set".into());
        }
        if e.template.len() != e.keypoints.len() || e.template.len() < 2 {
            return Err("embedder.template and embedder.keypoints must pair up (at least 2 points)".into());
        }
        if let Some(k) = e.keypoints.iter().find(|&&k| k >= d.keypoints()) {
            return Err(format!("embedder.keypoints: no detector keypoint {k}"));
        }
        Ok(())
    }

    /// Identifies everything that shapes a stored embedding; photos indexed under another
    /// pipeline id are processed again.
    pub fn pipeline_id(&self) -> String {
        let e = &self.embedder;
        let text = format!(
            "{:?}|{}:{}|{:?}|{:?}|{:?}|{}",
            self.detector, e.model.id, e.model.sha256, e.input, e.template, e.keypoints, e.flip_average,
        );
        hex::encode(Sha256::digest(text.as_bytes()))[..16].to_string()
    }

    /// Reads a model file and checks it against the manifest's sha256.
    pub fn read_verified(&self, model: &ModelFile) -> Result<Vec<u8>> {
        let path = self.dir.join(&model.file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let actual = hex::encode(Sha256::digest(&bytes));
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

