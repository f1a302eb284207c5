//! The models and their pure pre/post-processing. `detector` and `embedder` own ONNX sessions;
//! `geometry`, `blazeface`, `align` and `raster` are plain functions testable without ONNX.

pub mod align;
pub mod blazeface;
pub mod detector;
pub mod embedder;
pub mod geometry;
pub mod manifest;
pub mod raster;
pub mod runtime;

pub use detector::Detector;
pub use embedder::Embedder;
pub use geometry::{Detection, Rect};
pub use manifest::Manifest;
pub use raster::Pyramid;
pub use runtime::Device;

use manifest::{InputSpec, Layout};
use raster::Affine;

/// Writes one model input image (`size`×`size`, normalised, in the spec's layout) sampled from
/// `image` at `map`; `mirror` flips it left-right. Points outside the image are black (the
/// letterbox border the detector was checked with).
pub fn write_input(image: &Pyramid, map: &Affine, spec: &InputSpec, dst: &mut [f32], mirror: bool) {
    let size = spec.size;
    let plane = size * size;
    image.sample_affine(map, size, size, |row, col, rgb| {
        let col = if mirror { size - 1 - col } else { col };
        let v = spec.normalise(rgb.unwrap_or([0.0; 3]));
        for (c, value) in v.into_iter().enumerate() {
            let at = match spec.layout {
                Layout::Nhwc => (row * size + col) * 3 + c,
                Layout::Nchw => c * plane + row * size + col,
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

/// A face found and embedded.
#[derive(Clone, Debug)]
pub struct Face {
    pub detection: Detection,
    pub embedding: Vec<f32>,
}

impl FaceModels {
    pub fn load(manifest: &Manifest, device: Device, threads: usize) -> crate::error::Result<FaceModels> {
        Ok(FaceModels {
            detector: Detector::new(manifest, device, threads)?,
            embedder: Embedder::new(manifest, device, threads)?,
        })
    }

    /// Detects and embeds every face of an image.
    pub fn faces(&mut self, image: &Pyramid) -> crate::error::Result<Vec<Face>> {
        let detections = self.detector.detect(image)?;
        let embeddings = self.embedder.embed(image, &detections)?;
        Ok(detections.into_iter().zip(embeddings).map(|(detection, embedding)| Face { detection, embedding }).collect())
    }
}
