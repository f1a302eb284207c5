//! The face embedder: aligns each detected face to the manifest's template, runs all faces of a
//! photo as one batch (with their mirror images when `flip_average` is set) and returns
//! L2-normalised vectors.

use ort::session::Session;
use ort::value::TensorRef;

use super::align::{chip_map, Similarity};
use super::geometry::Detection;
use super::manifest::{EmbedderSpec, Layout, Manifest};
use super::raster::Pyramid;
use super::runtime::{self, Device};
use super::write_input;
use crate::error::{Error, Result};

pub struct Embedder {
    session: Session,
    spec: EmbedderSpec,
    buffer: Vec<f32>,
}

impl Embedder {
    pub fn new(manifest: &Manifest, device: Device, threads: usize) -> Result<Embedder> {
        let spec = manifest.embedder.clone();
        let bytes = manifest.read_verified(&spec.model)?;
        let session = runtime::session(device, &bytes, threads)?;
        Ok(Embedder { session, spec, buffer: Vec::new() })
    }

    pub fn spec(&self) -> &EmbedderSpec {
        &self.spec
    }

    /// One unit-length vector per face, in order.
    pub fn embed(&mut self, image: &Pyramid, faces: &[Detection]) -> Result<Vec<Vec<f32>>> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.spec.input.size;
        let per_chip = size * size * 3;
        let views = if self.spec.flip_average { 2 } else { 1 };
        self.buffer.resize(faces.len() * views * per_chip, 0.0);
        for (face, dst) in faces.iter().zip(self.buffer.chunks_mut(views * per_chip)) {
            let points: Vec<[f32; 2]> = self.spec.keypoints.iter().map(|&k| face.keypoints[k]).collect();
            let to_chip = Similarity::fit(&points, &self.spec.template)
                .ok_or_else(|| Error::Invalid("degenerate face keypoints".into()))?;
            let map = chip_map(&to_chip);
            for (view, chip) in dst.chunks_mut(per_chip).enumerate() {
                write_input(image, &map, &self.spec.input, chip, view == 1);
            }
        }
        let n = (faces.len() * views) as i64;
        let shape = match self.spec.input.layout {
            Layout::Nchw => [n, 3, size as i64, size as i64],
            Layout::Nhwc => [n, size as i64, size as i64, 3],
        };
        let input = TensorRef::from_array_view((shape, &self.buffer[..]))?;
        let outputs = self.session.run(ort::inputs![self.spec.input.name.as_str() => input])?;
        let (_, raw) = outputs[self.spec.output.as_str()].try_extract_tensor::<f32>()?;
        let dim = self.spec.dim;
        if raw.len() != faces.len() * views * dim {
            return Err(Error::Onnx(format!("embedder returned {} values, expected {}", raw.len(), faces.len() * views * dim)));
        }
        Ok(raw
            .chunks(views * dim)
            .map(|views_of_face| {
                let mut v = vec![0.0f32; dim];
                for view in views_of_face.chunks(dim) {
                    for (acc, x) in v.iter_mut().zip(view) {
                        *acc += x;
                    }
                }
                normalise(&mut v);
                v
            })
            .collect())
    }
}

/// Scales `v` to unit length (left as is when it is all zeros).
pub fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
