//! The face detector: owns its ONNX session and input buffer, runs the manifest's detector family
//! over a photo, and merges everything into one list of faces, confident and possible.

use ort::session::Session;
use ort::value::TensorRef;

use super::blazeface::{self, tile_frames, verification_frames, Frame, NUM_REGRESSORS};
use super::geometry::{best_overlap, weighted_nms, Detection};
use super::manifest::{BlazefaceSpec, DetectorSpec, Family, Layout, Manifest, RetinafaceSpec};
use super::raster::Pyramid;
use super::retinaface::{self, Pass};
use super::runtime::{self, Device};
use super::{write_input, write_input_sized};
use crate::error::{Error, Result};

/// Scores counted in a second look: low, since the mean over six looks is what decides.
const VERIFY_MIN_SCORE: f32 = 0.05;

pub struct Detector {
    net: Net,
    spec: DetectorSpec,
    device: Device,
}

/// The session and its input buffer, apart from the settings so both can be borrowed at once.
struct Net {
    session: Session,
    buffer: Vec<f32>,
    /// BlazeFace's fixed anchor grid (empty for RetinaFace, whose anchors follow the input size).
    grid: Vec<[f32; 2]>,
}

impl Detector {
    pub fn new(manifest: &Manifest, device: Device, threads: usize) -> Result<Detector> {
        let spec = manifest.detector.clone();
        let bytes = manifest.read_verified(&spec.model)?;
        let session = runtime::session(device, &bytes, threads)?;
        let grid = match spec.family() {
            Family::BlazeFace(b) => blazeface::anchors(b.anchor_grid),
            Family::RetinaFace(_) => Vec::new(),
        };
        Ok(Detector { net: Net { session, buffer: Vec::new(), grid }, spec, device })
    }

    pub fn spec(&self) -> &DetectorSpec {
        &self.spec
    }

    /// Every face in the image scoring at least the possible-face threshold, by falling score.
    /// Those under `score_threshold` are possible faces.
    pub fn detect(&mut self, image: &Pyramid) -> Result<Vec<Detection>> {
        let spec = &self.spec;
        match spec.family() {
            Family::RetinaFace(r) => self.net.detect_retinaface(image, spec, r, self.device),
            Family::BlazeFace(b) => self.net.detect_blazeface(image, spec, b),
        }
    }

    /// Faces the detector sees in the region of `rect` grown `context` times (at a low
    /// threshold): how a face drawn by hand gets its landmarks.
    pub fn detect_near(&mut self, image: &Pyramid, rect: &super::Rect, min_score: f32) -> Result<Vec<Detection>> {
        let spec = &self.spec;
        let side = rect.width().max(rect.height()) * 2.0;
        let (cx, cy) = rect.center();
        match spec.family() {
            Family::RetinaFace(r) => {
                // The region, scaled so the face is about 160 input pixels wide.
                let scale = 320.0 / side;
                let m = r.scales.multiple;
                let size = (320usize).div_ceil(m) * m;
                let pass = Pass { origin: [cx - side / 2.0, cy - side / 2.0], scale, width: size, height: size, ..Pass::default() };
                self.net.run_retinaface(image, r, &[pass], min_score)
            }
            Family::BlazeFace(b) => {
                let frame = Frame::letterbox(super::Rect::from_center(cx, cy, side, side));
                Ok(self.net.run_blazeface(image, b, &[frame], min_score)?.into_iter().flatten().collect())
            }
        }
    }
}

impl Net {
    fn detect_retinaface(&mut self, image: &Pyramid, spec: &DetectorSpec, r: &RetinafaceSpec, device: Device) -> Result<Vec<Detection>> {
        let (w, h) = (image.width(), image.height());
        let budget = match device {
            Device::Cpu => r.scales.fine_pixels,
            Device::Cuda => r.scales.fine_pixels_cuda,
        };
        let passes = retinaface::passes(w, h, &r.scales, budget);
        let found = self.run_retinaface(image, r, &passes, spec.possible_threshold)?;
        let mut faces = weighted_nms(found, spec.nms_iou);
        for face in faces.iter_mut().filter(|f| f.score < r.verify.below) {
            let look = self.run_retinaface(image, r, &[r.verify.pass(&face.rect, r.scales.multiple)], VERIFY_MIN_SCORE)?;
            face.score = (face.score + best_overlap(&face.rect, &look)) / 2.0;
        }
        faces.retain(|f| f.score >= spec.possible_threshold);
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        if !faces.iter().any(|f| f.score >= spec.score_threshold) {
            // No confident face: a second, more sensitive look before "no face" is recorded.
            let looks: Vec<Pass> = r.portrait.iter().map(|p| retinaface::portrait_pass(w, h, p, r.scales.multiple)).collect();
            faces.extend(self.run_retinaface(image, r, &looks, spec.possible_threshold)?);
            faces = weighted_nms(faces, spec.nms_iou);
        }
        Ok(faces)
    }

    /// Runs RetinaFace once per pass; returns the detections scoring at least `min_score`.
    fn run_retinaface(&mut self, image: &Pyramid, r: &RetinafaceSpec, passes: &[Pass], min_score: f32) -> Result<Vec<Detection>> {
        let mut out = Vec::new();
        for pass in passes {
            let (width, height) = (pass.width, pass.height);
            self.buffer.resize(width * height * 3, 0.0);
            write_input_sized(image, &pass.affine(), &r.input, (width, height), &mut self.buffer, (pass.mirror, pass.edges));
            let shape = match r.input.layout {
                Layout::Nchw => [1, 3, height as i64, width as i64],
                Layout::Nhwc => [1, height as i64, width as i64, 3],
            };
            let input = TensorRef::from_array_view((shape, &self.buffer[..]))?;
            let outputs = self.session.run(ort::inputs![r.input.name.as_str() => input])?;
            let (_, loc) = outputs[r.output_loc.as_str()].try_extract_tensor::<f32>()?;
            let (_, conf) = outputs[r.output_conf.as_str()].try_extract_tensor::<f32>()?;
            let (_, landmarks) = outputs[r.output_landmarks.as_str()].try_extract_tensor::<f32>()?;
            let anchors = retinaface::anchors(&r.steps, &r.anchor_sizes, width, height);
            let n = anchors.len();
            if loc.len() != 4 * n || conf.len() != 2 * n || landmarks.len() != 2 * retinaface::KEYPOINTS * n {
                return Err(Error::Onnx(format!("detector outputs do not match {n} anchors for a {width}×{height} input")));
            }
            out.extend(retinaface::decode(pass, (loc, conf, landmarks), &anchors, r.variance, min_score, (image.width(), image.height())));
        }
        Ok(out)
    }

    fn detect_blazeface(&mut self, image: &Pyramid, spec: &DetectorSpec, b: &BlazefaceSpec) -> Result<Vec<Detection>> {
        let frames = tile_frames(image.width(), image.height(), &b.tiling);
        let found = self.run_blazeface(image, b, &frames, spec.possible_threshold)?.into_iter().flatten().collect();
        let mut faces = weighted_nms(found, spec.nms_iou);
        // Second look at the uncertain ones.
        let uncertain: Vec<usize> = (0..faces.len()).filter(|&i| faces[i].score < b.verify_below).collect();
        if !uncertain.is_empty() {
            let frames: Vec<_> = uncertain.iter().flat_map(|&i| verification_frames(&faces[i].rect)).collect();
            let per_face = frames.len() / uncertain.len();
            let looks = self.run_blazeface(image, b, &frames, VERIFY_MIN_SCORE)?;
            let mut rejected = vec![false; faces.len()];
            for (&i, looks) in uncertain.iter().zip(looks.chunks(per_face)) {
                let mean = looks.iter().map(|found| best_overlap(&faces[i].rect, found)).sum::<f32>() / per_face as f32;
                rejected[i] = mean < b.verify_min_mean;
            }
            let mut keep = rejected.iter().map(|r| !r);
            faces.retain(|_| keep.next().unwrap_or(true));
        }
        Ok(faces)
    }

    /// Runs BlazeFace on every frame, one at a time (on CPU a batch's activations outgrow the
    /// core's cache: 1.79 ms a frame alone, 2.18 in eights); returns each frame's detections
    /// scoring at least `min_score`.
    fn run_blazeface(&mut self, image: &Pyramid, b: &BlazefaceSpec, frames: &[Frame], min_score: f32) -> Result<Vec<Vec<Detection>>> {
        let size = b.input.size;
        let mut out = Vec::with_capacity(frames.len());
        self.buffer.resize(size * size * 3, 0.0);
        for frame in frames {
            write_input(image, &frame.affine(size), &b.input, &mut self.buffer, false);
            let shape = match b.input.layout {
                Layout::Nhwc => [1, size as i64, size as i64, 3],
                Layout::Nchw => [1, 3, size as i64, size as i64],
            };
            let input = TensorRef::from_array_view((shape, &self.buffer[..]))?;
            let outputs = self.session.run(ort::inputs![b.input.name.as_str() => input])?;
            let (_, regressors) = outputs[b.output_regressors.as_str()].try_extract_tensor::<f32>()?;
            let (_, logits) = outputs[b.output_logits.as_str()].try_extract_tensor::<f32>()?;
            let anchors = self.grid.len();
            if regressors.len() != anchors * NUM_REGRESSORS || logits.len() != anchors {
                return Err(Error::Onnx(format!("detector outputs do not match {anchors} anchors")));
            }
            out.push(blazeface::decode(frame, regressors, logits, &self.grid, size, min_score, (image.width(), image.height())));
        }
        Ok(out)
    }
}
