//! Pure pre- and post-processing for MediaPipe's full-range BlazeFace: the tile layout over a
//! large image, the letterbox frame of a tile, anchor decoding of the raw outputs into boxes and
//! keypoints in image coordinates. No ONNX here: see `detector.rs` for the session.

use super::geometry::{Detection, Rect};
use super::raster::Affine;

/// BlazeFace's keypoints: right eye, left eye (subject's: the right eye is on the image left), nose
/// tip, mouth centre, right ear, left ear.
pub const KEYPOINTS: usize = 6;
/// Values per anchor in the regressor output: box (cx, cy, w, h) then 6 keypoints (x, y).
pub const NUM_REGRESSORS: usize = 4 + 2 * KEYPOINTS;

/// Anchor centres in normalised input coordinates: one per cell of a `grid`×`grid` map, row-major.
pub fn anchors(grid: usize) -> Vec<[f32; 2]> {
    let mut out = Vec::with_capacity(grid * grid);
    for y in 0..grid {
        for x in 0..grid {
            out.push([(x as f32 + 0.5) / grid as f32, (y as f32 + 0.5) / grid as f32]);
        }
    }
    out
}

/// A square region of the image fed to the detector: the tile `region` letterboxed (centred, keeping
/// aspect) into a `side`×`side` square of source pixels starting at `origin`, optionally mirrored
/// left-right. Regions may reach past the image border (black there): BlazeFace finds faces cut
/// by the photo's edge far more readily when the cut does not coincide with its input's edge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub region: Rect,
    pub origin: [f32; 2],
    pub side: f32,
    pub mirror: bool,
}

impl Frame {
    pub fn letterbox(region: Rect) -> Frame {
        let side = region.width().max(region.height());
        let origin = [
            region.x0 - (side - region.width()) / 2.0,
            region.y0 - (side - region.height()) / 2.0,
        ];
        Frame { region, origin, side, mirror: false }
    }

    pub fn mirrored(self) -> Frame {
        Frame { mirror: !self.mirror, ..self }
    }

    /// Sampling map from a `size`×`size` model input to source pixels.
    pub fn affine(&self, size: usize) -> Affine {
        let step = self.side / size as f32;
        if self.mirror {
            Affine { origin: [self.origin[0] + self.side, self.origin[1]], dx: [-step, 0.0], dy: [0.0, step] }
        } else {
            Affine { origin: self.origin, dx: [step, 0.0], dy: [0.0, step] }
        }
    }

    /// Normalised input coordinates → source pixels.
    fn to_image(&self, u: f32, v: f32) -> [f32; 2] {
        let u = if self.mirror { 1.0 - u } else { u };
        [self.origin[0] + u * self.side, self.origin[1] + v * self.side]
    }
}

/// Frames for a second look at an uncertain detection: squares of 1.5, 2 and 3 times its size
/// centred on it, each also mirrored.
pub fn verification_frames(rect: &Rect) -> Vec<Frame> {
    let (cx, cy) = rect.center();
    let size = rect.width().max(rect.height());
    [1.5f32, 2.0, 3.0]
        .iter()
        .flat_map(|k| {
            let f = Frame::letterbox(Rect::from_center(cx, cy, k * size, k * size));
            [f, f.mirrored()]
        })
        .collect()
}

/// How an image is cut into detector frames.
#[derive(Clone, Copy, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiling {
    /// No tiles smaller than this many source pixels.
    pub min_side: f32,
    /// At most this many levels of tiles below the whole image.
    pub max_levels: usize,
    /// Overlap of neighbouring tiles, as a fraction of the side.
    pub overlap: f32,
    /// How far tiles reach past the image border, as a fraction of the side.
    pub margin: f32,
}

/// Frames for detection on an image of `width`×`height`: the whole image, then levels of squares of
/// half the previous side laid with overlap over the image grown by the margin on every edge,
/// while the side stays at least `min_side`, for at most `max_levels` levels. Small faces in large
/// photos are found on the finer levels, faces cut by the border thanks to the margin.
pub fn tile_frames(width: u32, height: u32, tiling: &Tiling) -> Vec<Frame> {
    let Tiling { min_side, max_levels, overlap, margin } = *tiling;
    let (w, h) = (width as f32, height as f32);
    let mut frames = vec![Frame::letterbox(Rect { x0: 0.0, y0: 0.0, x1: w, y1: h })];
    let mut side = w.max(h) / 2.0;
    let mut level = 0;
    while side >= min_side && level < max_levels {
        level += 1;
        let margin = margin * side;
        let xs = positions(w + 2.0 * margin, side, overlap);
        let ys = positions(h + 2.0 * margin, side, overlap);
        for &y in &ys {
            for &x in &xs {
                let (x, y) = (x - margin, y - margin);
                let region = Rect { x0: x, y0: y, x1: (x + side).min(w + margin), y1: (y + side).min(h + margin) };
                frames.push(Frame::letterbox(region));
            }
        }
        side /= 2.0;
    }
    frames
}

/// Start positions of tiles of `side` covering `[0, length)` with at least `overlap`·side overlap.
fn positions(length: f32, side: f32, overlap: f32) -> Vec<f32> {
    if length <= side {
        return vec![0.0];
    }
    let stride = side * (1.0 - overlap);
    let n = ((length - side) / stride).ceil() as usize + 1;
    (0..n).map(|i| i as f32 * (length - side) / (n - 1) as f32).collect()
}

/// Decodes one frame's raw outputs (`regressors`: anchors × 16, `logits`: anchors) into detections in
/// image coordinates, keeping those scoring at least `min_score`. Detections that touch an inner
/// edge of a tile (an edge that is not the image border) are dropped: the face is cut there and a
/// neighbouring tile or the coarser level sees it whole.
pub fn decode(
    frame: &Frame,
    regressors: &[f32],
    logits: &[f32],
    anchors: &[[f32; 2]],
    input_size: usize,
    min_score: f32,
    image_size: (u32, u32),
) -> Vec<Detection> {
    let s = input_size as f32;
    let (iw, ih) = (image_size.0 as f32, image_size.1 as f32);
    let mut out = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let score = sigmoid(logits[i]);
        if score < min_score {
            continue;
        }
        let r = &regressors[i * NUM_REGRESSORS..(i + 1) * NUM_REGRESSORS];
        let (cx, cy) = (r[0] / s + anchor[0], r[1] / s + anchor[1]);
        let (bw, bh) = (r[2] / s, r[3] / s);
        let [x0, y0] = frame.to_image(cx - bw / 2.0, cy - bh / 2.0);
        let [x1, y1] = frame.to_image(cx + bw / 2.0, cy + bh / 2.0);
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let rect = Rect { x0, y0, x1, y1 };
        if cut_by_inner_edge(&rect, &frame.region, iw, ih) {
            continue;
        }
        let keypoints =
            (0..KEYPOINTS).map(|k| frame.to_image(r[4 + 2 * k] / s + anchor[0], r[5 + 2 * k] / s + anchor[1])).collect();
        out.push(Detection { rect: rect.clip(iw, ih), score, keypoints });
    }
    out
}

fn cut_by_inner_edge(rect: &Rect, region: &Rect, iw: f32, ih: f32) -> bool {
    let margin = 0.01 * region.width().max(region.height());
    (region.x0 > 0.0 && rect.x0 < region.x0 + margin)
        || (region.y0 > 0.0 && rect.y0 < region.y0 + margin)
        || (region.x1 < iw && rect.x1 > region.x1 - margin)
        || (region.y1 < ih && rect.y1 > region.y1 - margin)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-80.0, 80.0)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_cell_centres_row_major() {
        let a = anchors(48);
        assert_eq!(a.len(), 2304);
        assert_eq!(a[0], [0.5 / 48.0, 0.5 / 48.0]);
        assert_eq!(a[1], [1.5 / 48.0, 0.5 / 48.0]);
        assert_eq!(a[48], [0.5 / 48.0, 1.5 / 48.0]);
        assert_eq!(a[2303], [47.5 / 48.0, 47.5 / 48.0]);
    }

    #[test]
    fn letterbox_centres_a_wide_image() {
        let f = Frame::letterbox(Rect { x0: 0.0, y0: 0.0, x1: 400.0, y1: 200.0 });
        assert_eq!(f.side, 400.0);
        assert_eq!(f.origin, [0.0, -100.0]);
        assert_eq!(f.to_image(0.5, 0.5), [200.0, 100.0]);
    }

    #[test]
    fn decode_maps_anchor_offsets_to_image_pixels() {
        // A 400×200 image letterboxed to 192: one face at anchor (24, 24) (input centre), offset by
        // +19.2 input px in x, 38.4 px wide.
        let frame = Frame::letterbox(Rect { x0: 0.0, y0: 0.0, x1: 400.0, y1: 200.0 });
        let a = anchors(48);
        let idx = 24 * 48 + 24;
        let mut reg = vec![0.0f32; a.len() * NUM_REGRESSORS];
        let mut logits = vec![-10.0f32; a.len()];
        logits[idx] = 3.0;
        let r = &mut reg[idx * NUM_REGRESSORS..(idx + 1) * NUM_REGRESSORS];
        r[0] = 19.2;
        r[2] = 38.4;
        r[3] = 38.4;
        r[4] = -9.6; // right eye x offset
        let dets = decode(&frame, &reg, &logits, &a, 192, 0.5, (400, 200));
        assert_eq!(dets.len(), 1);
        let d = &dets[0];
        // Anchor centre (24.5/48) → 204.17 px; +0.1 of 400 px → 244.17; width 0.2·400 = 80.
        let cx = (d.rect.x0 + d.rect.x1) / 2.0;
        assert!((cx - (24.5 / 48.0 * 400.0 + 40.0)).abs() < 1e-3, "cx {cx}");
        assert!((d.rect.width() - 80.0).abs() < 1e-3);
        assert!((d.keypoints[0][0] - (24.5 / 48.0 * 400.0 - 20.0)).abs() < 1e-3);
        assert!((d.score - sigmoid(3.0)).abs() < 1e-6);
    }

    #[test]
    fn small_images_get_one_frame_large_ones_overlapping_tiles() {
        let tiling = Tiling { min_side: 320.0, max_levels: 4, overlap: 0.25, margin: 0.0 };
        assert_eq!(tile_frames(250, 250, &tiling).len(), 1);
        let frames = tile_frames(4000, 3000, &Tiling { min_side: 640.0, ..tiling });
        // Whole image, then sides 2000 (3×2 tiles) and 1000 (5×4 tiles).
        assert_eq!(frames.len(), 1 + 6 + 20);
        for f in &frames {
            assert!(f.region.x1 <= 4000.0 && f.region.y1 <= 3000.0);
        }
        // Tiles of one level overlap by at least a quarter of their side.
        let level: Vec<_> = frames.iter().filter(|f| f.side == 1000.0 && f.region.y0 == 0.0).collect();
        for pair in level.windows(2) {
            assert!(pair[0].region.x1 - pair[1].region.x0 >= 250.0 - 1e-3);
        }
        assert_eq!(level.last().unwrap().region.x1, 4000.0);
        // The level cap keeps big photos from exploding into hundreds of tiles.
        assert_eq!(tile_frames(4000, 3000, &Tiling { min_side: 300.0, max_levels: 1, ..tiling }).len(), 1 + 6);
    }

    #[test]
    fn margin_tiles_reach_past_the_border() {
        let frames = tile_frames(600, 600, &Tiling { min_side: 300.0, max_levels: 2, overlap: 0.25, margin: 0.25 });
        let min_x = frames.iter().map(|f| f.region.x0).fold(f32::MAX, f32::min);
        let max_x = frames.iter().map(|f| f.region.x1).fold(f32::MIN, f32::max);
        assert_eq!((min_x, max_x), (-75.0, 675.0));
    }

    #[test]
    fn mirrored_frames_map_back_to_the_same_place() {
        let f = Frame::letterbox(Rect { x0: 100.0, y0: 50.0, x1: 300.0, y1: 250.0 });
        let m = f.mirrored();
        assert_eq!(m.to_image(0.25, 0.5), f.to_image(0.75, 0.5));
        // The sampling map of the mirrored frame reads input column 0 from the right edge.
        let a = m.affine(200);
        assert!((a.apply(0.0, 0.0)[0] - 299.5).abs() < 1e-4);
        let v = verification_frames(&Rect { x0: 0.0, y0: 0.0, x1: 10.0, y1: 20.0 });
        assert_eq!(v.len(), 6);
        assert_eq!(v[5].side, 60.0);
        assert!(v[1].mirror && !v[0].mirror);
    }

    #[test]
    fn detections_cut_by_an_inner_tile_edge_are_dropped() {
        let tile = Rect { x0: 500.0, y0: 0.0, x1: 1500.0, y1: 1000.0 };
        let inner_cut = Rect { x0: 495.0, y0: 100.0, x1: 600.0, y1: 200.0 };
        let inside = Rect { x0: 700.0, y0: 100.0, x1: 800.0, y1: 200.0 };
        let at_image_top = Rect { x0: 700.0, y0: -5.0, x1: 800.0, y1: 90.0 };
        assert!(cut_by_inner_edge(&inner_cut, &tile, 4000.0, 3000.0));
        assert!(!cut_by_inner_edge(&inside, &tile, 4000.0, 3000.0));
        assert!(!cut_by_inner_edge(&at_image_top, &tile, 4000.0, 3000.0));
    }
}
