//! The face detector: owns its ONNX session and input buffer, runs the whole image and its tiles
//! in batches, and merges everything into one list of faces.

use ort::session::Session;
use ort::value::TensorRef;

use super::blazeface::{anchors, best_overlap, decode, tile_frames, verification_frames, Frame, NUM_REGRESSORS};
use super::geometry::{weighted_nms, Detection};
use super::manifest::{DetectorSpec, Layout, Manifest};
use super::raster::Pyramid;
use super::runtime::{self, Device};
use super::write_input;
use crate::error::{Error, Result};

/// Frames per detector run. One at a time is fastest on CPU: a batch's activations outgrow the
/// core's cache (`cargo bench --bench stages -- onnx/`: 1.79 ms per frame alone, 2.18 in eights).
const BATCH: usize = 1;
/// Scores counted in a second look: low, since the mean over six looks is what decides.
const VERIFY_MIN_SCORE: f32 = 0.05;

pub struct Detector {
    session: Session,
    spec: DetectorSpec,
    anchors: Vec<[f32; 2]>,
    buffer: Vec<f32>,
}

impl Detector {
    pub fn new(manifest: &Manifest, device: Device, threads: usize) -> Result<Detector> {
        let spec = manifest.detector.clone();
        let bytes = manifest.read_verified(&spec.model)?;
        let session = runtime::session(device, &bytes, threads)?;
        Ok(Detector { session, anchors: anchors(spec.anchor_grid), spec, buffer: Vec::new() })
    }

    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }

    /// All faces in the image, by falling score.
    pub fn detect(&mut self, image: &Pyramid) -> Result<Vec<Detection>> {
        let spec = &self.spec;
        let frames = tile_frames(image.width(), image.height(), &spec.tiling);
        let found = self.run(image, &frames, self.spec.score_threshold)?.into_iter().flatten().collect();
        let mut faces = weighted_nms(found, self.spec.nms_iou);
        // Second look at the uncertain ones, all in one batch.
        let uncertain: Vec<usize> = (0..faces.len()).filter(|&i| faces[i].score < self.spec.verify_below).collect();
        if !uncertain.is_empty() {
            let frames: Vec<_> = uncertain.iter().flat_map(|&i| verification_frames(&faces[i].rect)).collect();
            let per_face = frames.len() / uncertain.len();
            let looks = self.run(image, &frames, VERIFY_MIN_SCORE)?;
            let mut rejected = vec![false; faces.len()];
            for (&i, looks) in uncertain.iter().zip(looks.chunks(per_face)) {
                let mean = looks.iter().map(|found| best_overlap(&faces[i].rect, found)).sum::<f32>() / per_face as f32;
                rejected[i] = mean < self.spec.verify_min_mean;
            }
            let mut keep = rejected.iter().map(|r| !r);
            faces.retain(|_| keep.next().unwrap_or(true));
        }
        Ok(faces)
    }

    /// Runs the detector on every frame (in batches); returns each frame's detections scoring at
    /// least `min_score`.
    fn run(&mut self, image: &Pyramid, frames: &[Frame], min_score: f32) -> Result<Vec<Vec<Detection>>> {
        let size = self.spec.input.size;
        let per_image = size * size * 3;
        let mut out = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(BATCH) {
            self.buffer.resize(chunk.len() * per_image, 0.0);
            for (frame, dst) in chunk.iter().zip(self.buffer.chunks_mut(per_image)) {
                write_input(image, &frame.affine(size), &self.spec.input, dst, false);
            }
            let n = chunk.len() as i64;
            let shape = match self.spec.input.layout {
                Layout::Nhwc => [n, size as i64, size as i64, 3],
                Layout::Nchw => [n, 3, size as i64, size as i64],
            };
            let input = TensorRef::from_array_view((shape, &self.buffer[..]))?;
            let outputs = self.session.run(ort::inputs![self.spec.input.name.as_str() => input])?;
            let (_, regressors) = outputs[self.spec.output_regressors.as_str()].try_extract_tensor::<f32>()?;
            let (_, logits) = outputs[self.spec.output_logits.as_str()].try_extract_tensor::<f32>()?;
            let anchors = self.anchors.len();
            let per_reg = anchors * NUM_REGRESSORS;
            if regressors.len() != chunk.len() * per_reg || logits.len() != chunk.len() * anchors {
                return Err(Error::Onnx(format!("detector outputs do not match {anchors} anchors")));
            }
            for (i, frame) in chunk.iter().enumerate() {
                out.push(decode(
                    frame,
                    &regressors[i * per_reg..(i + 1) * per_reg],
                    &logits[i * anchors..(i + 1) * anchors],
                    &self.anchors,
                    size,
                    min_score,
                    (image.width(), image.height()),
                ));
            }
        }
        Ok(out)
    }
}
