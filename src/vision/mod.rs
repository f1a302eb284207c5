//! The models and their pure pre/post-processing. `detector` and `embedder` own ONNX sessions;
//! `geometry`, `blazeface`, `align` and `raster` are plain functions testable without ONNX.

pub mod align;
pub mod blazeface;
pub mod detector;
pub mod embedder;
pub mod geometry;
pub mod manifest;
pub mod raster;
pub mod retinaface;
pub mod runtime;

pub use detector::Detector;
pub use embedder::Embedder;
pub use geometry::{Detection, Rect};
pub use manifest::Manifest;
pub use raster::Pyramid;
pub use runtime::Device;

use manifest::{InputSpec, Layout};
use raster::{Affine, Edges};

/// Writes one model input image (`size`×`size`, normalised, in the spec's layout) sampled from
/// `image` at `map`; `mirror` flips it left-right. Points outside the image get the spec's padding.
pub fn write_input(image: &Pyramid, map: &Affine, spec: &InputSpec, dst: &mut [f32], mirror: bool) {
    write_input_sized(image, map, spec, (spec.size, spec.size), dst, (mirror, Edges::Outside))
}

/// [`write_input`] for an input of `width`×`height`, with what the input shows past the photo's
/// edges (the spec's padding, or the photo mirrored).
pub fn write_input_sized(
    image: &Pyramid,
    map: &Affine,
    spec: &InputSpec,
    (width, height): (usize, usize),
    dst: &mut [f32],
    (mirror, edges): (bool, Edges),
) {
    let plane = width * height;
    image.sample_affine_with(map, width, height, edges, |row, col, rgb| {
        let col = if mirror { width - 1 - col } else { col };
        let v = spec.normalise(rgb);
        for (c, value) in v.into_iter().enumerate() {
            let at = match spec.layout {
                Layout::Nhwc => (row * width + col) * 3 + c,
                Layout::Nchw => c * plane + row * width + col,
            };
            dst[at] = value;
        }
    });
}

/// A detector and an embedder loaded together: what one worker needs.
pub struct FaceModels {
    pub detector: Detector,
    pub embedder: Embedder,
}

/// Where a stored face comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The detector is confident.
    Detected,
    /// The detector is unsure: blocks the gate until a person reviews it, never clustered.
    Possible,
    /// Drawn by a person (`face add`), kept across re-indexing.
    Manual,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Detected => "detected",
            Origin::Possible => "possible",
            Origin::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Origin {
        match s {
            "possible" => Origin::Possible,
            "manual" => Origin::Manual,
            _ => Origin::Detected,
        }
    }
}

/// A face found and embedded.
#[derive(Clone, Debug)]
pub struct Face {
    pub detection: Detection,
    pub embedding: Vec<f32>,
    pub origin: Origin,
}

impl Face {
    /// A confident detection (for tests and benchmarks that make faces by hand).
    pub fn detected(detection: Detection, embedding: Vec<f32>) -> Face {
        Face { detection, embedding, origin: Origin::Detected }
    }
}

impl FaceModels {
    pub fn load(manifest: &Manifest, device: Device, threads: usize) -> crate::error::Result<FaceModels> {
        Ok(FaceModels {
            detector: Detector::new(manifest, device, threads)?,
            embedder: Embedder::new(manifest, device, threads)?,
        })
    }

    /// Detects and embeds every face of an image, confident and possible, plus a face for each
    /// of the `manual` boxes people drew (a detection overlapping one gives way to it).
    pub fn faces(&mut self, image: &Pyramid, manual: &[Rect]) -> crate::error::Result<Vec<Face>> {
        let confident = self.detector.spec().score_threshold;
        let mut detections: Vec<Detection> =
            self.detector.detect(image)?.into_iter().filter(|d| !crate::store::overlaps(manual, &d.rect)).collect();
        let mut origins: Vec<Origin> =
            detections.iter().map(|d| if d.score >= confident { Origin::Detected } else { Origin::Possible }).collect();
        for rect in manual {
            detections.push(self.manual_detection(image, rect)?);
            origins.push(Origin::Manual);
        }
        let embeddings = self.embedder.embed(image, &detections)?;
        Ok(detections
            .into_iter()
            .zip(origins)
            .zip(embeddings)
            .map(|((detection, origin), embedding)| Face { detection, embedding, origin })
            .collect())
    }

    /// A detection for a box a person drew: the box, with the landmarks of what the detector
    /// sees there at a low threshold, or, when it sees nothing, landmarks placed in the box where
    /// a frontal face has them.
    pub fn manual_detection(&mut self, image: &Pyramid, rect: &Rect) -> crate::error::Result<Detection> {
        let near = self.detector.detect_near(image, rect, 0.02)?;
        let best = near.into_iter().filter(|d| d.rect.iou(rect) > 0.3).max_by(|a, b| a.score.total_cmp(&b.score));
        let keypoints = match best {
            Some(d) => d.keypoints,
            None => {
                let spec = self.embedder.spec();
                let mut points = vec![[0.0f32; 2]; self.detector.spec().keypoints()];
                for (&k, p) in spec.keypoints.iter().zip(align::points_in_box(rect, &spec.template, spec.input.size)) {
                    points[k] = p;
                }
                points
            }
        };
        Ok(Detection { rect: *rect, score: 1.0, keypoints })
    }
}
