//! Pure pre- and post-processing for RetinaFace (MobileNet-0.25): which scales a photo is run at,
//! the anchors of an input of any size, and decoding the raw outputs into boxes and five
//! landmarks in image coordinates. No ONNX here: see `detector.rs` for the session.
//!
//! The network is fully convolutional, so a photo is run whole at each scale, not in tiles. Its
//! anchors span 16 to 512 input pixels, so one scale finds faces from about 12 px to about 600 px
//! there. Two scales cover a photo of any size:
//! - the **coarse** pass shrinks the photo until its long side is at most `coarse_side`, so that
//!   a face filling the frame still fits the largest anchors;
//! - the **fine** pass runs the photo at the largest scale that stays within a pixel budget
//!   (enlarging small photos up to `max_upscale`), for the smallest faces.
//! A fine pass close to the coarse one adds nothing and is skipped.

use serde::Deserialize;

use super::geometry::{Detection, Rect};
use super::raster::{Affine, Edges};

/// RetinaFace's landmarks, image left to right: left eye, right eye (on the image), nose tip,
/// left mouth corner, right mouth corner.
pub const KEYPOINTS: usize = 5;

/// How a photo is scaled for detection (see the module docs).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scales {
    /// Long side of the coarse pass (photos are never enlarged for it).
    pub coarse_side: f32,
    /// Pixel budget of the fine pass on the CPU …
    pub fine_pixels: f32,
    /// … and on a GPU.
    pub fine_pixels_cuda: f32,
    /// The fine pass enlarges a photo at most this much.
    pub max_upscale: f32,
    /// Photos whose long side is under this get the coarse pass only (thumbnails and portraits:
    /// enlarging them finds nothing a person would call a face).
    pub fine_min_side: f32,
    /// A fine pass less than this factor above the coarse one is skipped.
    pub min_step: f32,
    /// Faces at least this many pixels wide at the coarse scale are left to the coarse pass: the
    /// fine pass, enlarged, sees false faces in large textures (a shirt, a suit).
    pub handoff: f32,
    /// The coarse pass sees the photo inside a border of this fraction of its long side on every
    /// edge, so that a face cut by the photo's edge is not also cut by the input's.
    pub margin: f32,
    /// Photos that get a fine pass also get the coarse pass mirrored: a second view that finds
    /// faces cut by the edge or turned away which the first misses.
    pub mirror_coarse: bool,
    /// The coarse pass's border left and right of the photo shows the photo mirrored about its
    /// side rather than the mean colour: a face cut by a side is then seen as a whole (if doubled)
    /// face. Detections centred more than `edge_slack` of their width left or right of the photo
    /// are the mirror images of faces inside it, and are dropped.
    #[serde(default)]
    pub reflect: bool,
    #[serde(default)]
    pub edge_slack: f32,
    /// Input sides are rounded up to a multiple of this (the largest feature stride).
    pub multiple: usize,
}

/// A second, more sensitive look at a photo in which no face reached the confident threshold:
/// the photo is placed in the middle of a frame `pad` times its long side larger on every edge,
/// shrunk so the frame is `side` pixels, and mirrored left-right when `mirror` is set. A tightly
/// cropped face, cut by every edge of the photo, is then seen whole against a neutral border. The
/// manifest lists several such looks (frames and sizes differ in what they find: a profile is
/// found at one size and missed at another).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Portrait {
    pub pad: f32,
    pub side: f32,
    #[serde(default)]
    pub mirror: bool,
}

/// A second look at a detection scoring below `below`: the detector runs on a square `context`
/// times the face's size around it, scaled so the face is `face` pixels, and the detection's score
/// becomes the mean of its first score and its best score there. Faces that only looked like
/// one at a single scale fall to possible faces, and blurred real faces seen better rise.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    pub below: f32,
    pub context: f32,
    pub face: f32,
}

impl Verify {
    /// The pass for a second look at `rect`.
    pub fn pass(&self, rect: &Rect, multiple: usize) -> Pass {
        let size = rect.width().max(rect.height()).max(1.0);
        let (cx, cy) = rect.center();
        let side = self.context * size;
        Pass::new([cx - side / 2.0, cy - side / 2.0], self.face / size, (side, side), multiple)
    }
}

/// One run of the detector: the photo scaled by `scale`, with input pixel (0, 0) at image point
/// `origin`, in an input of `width`×`height`, mirrored left-right when `mirror` is set, and past
/// the photo's edges what `edges` says; it keeps faces up to `max_face` image pixels, and, with
/// reflected edges, those centred no more than `edge_slack` of their width left or right of the
/// photo.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pass {
    pub origin: [f32; 2],
    pub scale: f32,
    pub width: usize,
    pub height: usize,
    pub max_face: f32,
    pub mirror: bool,
    pub edges: Edges,
    pub edge_slack: f32,
}

impl Default for Pass {
    fn default() -> Pass {
        Pass { origin: [0.0; 2], scale: 1.0, width: 0, height: 0, max_face: f32::INFINITY, mirror: false, edges: Edges::Outside, edge_slack: 0.0 }
    }
}

impl Pass {
    fn new(origin: [f32; 2], scale: f32, extent: (f32, f32), multiple: usize) -> Pass {
        let side = |len: f32| ((len * scale).round().max(1.0) as usize).div_ceil(multiple) * multiple;
        Pass { origin, scale, width: side(extent.0), height: side(extent.1), ..Pass::default() }
    }

    /// Whether a box found in this pass is a face in the photo, not the mirror image (in a
    /// reflected border) of one.
    fn keeps(&self, rect: &Rect, iw: f32) -> bool {
        if self.edges == Edges::Outside {
            return true;
        }
        // Only the sides are mirrored (see `Edges::Reflect`).
        let (cx, _) = rect.center();
        let slack = self.edge_slack * rect.width();
        cx >= -slack && cx <= iw + slack
    }

    /// Sampling map from input pixels to image pixels.
    pub fn affine(&self) -> Affine {
        let step = 1.0 / self.scale;
        Affine { origin: self.origin, dx: [step, 0.0], dy: [0.0, step] }
    }

    /// Input coordinates (of the input as the network saw it) → image pixels.
    fn to_image(&self, x: f32, y: f32) -> [f32; 2] {
        let x = if self.mirror { self.width as f32 - x } else { x };
        [self.origin[0] + x / self.scale, self.origin[1] + y / self.scale]
    }
}

/// The passes for a photo of `width`×`height`, given the fine pass's pixel budget.
pub fn passes(width: u32, height: u32, scales: &Scales, fine_pixels: f32) -> Vec<Pass> {
    let (w, h) = (width as f32, height as f32);
    let long = w.max(h);
    let m = scales.margin * long;
    let coarse = (scales.coarse_side / (long + 2.0 * m)).min(1.0);
    let mut whole = Pass::new([-m, -m], coarse, (w + 2.0 * m, h + 2.0 * m), scales.multiple);
    if scales.reflect {
        whole.edges = Edges::Reflect;
        whole.edge_slack = scales.edge_slack;
    }
    let mut out = vec![whole];
    let fine = (fine_pixels / (w * h)).sqrt().min(scales.max_upscale);
    if long >= scales.fine_min_side && fine >= coarse * scales.min_step {
        if scales.mirror_coarse {
            out.push(Pass { mirror: true, ..whole });
        }
        let pass = Pass::new([0.0, 0.0], fine, (w, h), scales.multiple);
        out.push(Pass { max_face: scales.handoff / coarse, ..pass });
    }
    out
}

/// The portrait pass (see [`Portrait`]).
pub fn portrait_pass(width: u32, height: u32, portrait: &Portrait, multiple: usize) -> Pass {
    let (w, h) = (width as f32, height as f32);
    let frame = w.max(h) * (1.0 + 2.0 * portrait.pad);
    let scale = portrait.side / frame;
    let origin = [(w - frame) / 2.0, (h - frame) / 2.0];
    Pass { mirror: portrait.mirror, ..Pass::new(origin, scale, (frame, frame), multiple) }
}

/// Anchors of an input of `width`×`height`: for each stride, row-major over its feature map, one
/// anchor per size at each cell centre, as (cx, cy, size) in input pixels.
pub fn anchors(steps: &[usize], sizes: &[Vec<f32>], width: usize, height: usize) -> Vec<[f32; 3]> {
    let mut out = Vec::new();
    for (&step, sizes) in steps.iter().zip(sizes) {
        let (cols, rows) = (width.div_ceil(step), height.div_ceil(step));
        for y in 0..rows {
            for x in 0..cols {
                let centre = [(x as f32 + 0.5) * step as f32, (y as f32 + 0.5) * step as f32];
                out.extend(sizes.iter().map(|&s| [centre[0], centre[1], s]));
            }
        }
    }
    out
}

/// Decodes one pass's raw outputs (`loc`: anchors × 4, `conf`: anchors × 2 softmax, `landmarks`:
/// anchors × 10) into detections in image coordinates scoring at least `min_score`, clipped to
/// the image.
pub fn decode(
    pass: &Pass,
    raw: (&[f32], &[f32], &[f32]),
    anchors: &[[f32; 3]],
    variance: [f32; 2],
    min_score: f32,
    image_size: (u32, u32),
) -> Vec<Detection> {
    let (loc, conf, landmarks) = raw;
    let (iw, ih) = (image_size.0 as f32, image_size.1 as f32);
    let mut out = Vec::new();
    for (i, &[ax, ay, size]) in anchors.iter().enumerate() {
        let score = conf[2 * i + 1];
        if score < min_score {
            continue;
        }
        let l = &loc[4 * i..4 * i + 4];
        let (cx, cy) = (ax + variance[0] * l[0] * size, ay + variance[0] * l[1] * size);
        let (bw, bh) = (size * (variance[1] * l[2]).exp(), size * (variance[1] * l[3]).exp());
        let [xa, y0] = pass.to_image(cx - bw / 2.0, cy - bh / 2.0);
        let [xb, y1] = pass.to_image(cx + bw / 2.0, cy + bh / 2.0);
        let rect = Rect { x0: xa.min(xb), y0, x1: xa.max(xb), y1 };
        if rect.width().max(rect.height()) > pass.max_face || !pass.keeps(&rect, iw) {
            continue;
        }
        let rect = rect.clip(iw, ih);
        if rect.area() <= 0.0 {
            continue;
        }
        let lm = &landmarks[10 * i..10 * i + 10];
        let mut keypoints: Vec<[f32; 2]> = (0..KEYPOINTS)
            .map(|k| pass.to_image(ax + variance[0] * lm[2 * k] * size, ay + variance[0] * lm[2 * k + 1] * size))
            .collect();
        if pass.mirror {
            // The image-left eye and mouth corner of a mirrored input are the image-right ones.
            keypoints.swap(0, 1);
            keypoints.swap(3, 4);
        }
        out.push(Detection { rect, score, keypoints });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALES: Scales = Scales {
        coarse_side: 640.0,
        fine_pixels: 2.0e6,
        fine_pixels_cuda: 16.0e6,
        max_upscale: 2.0,
        fine_min_side: 480.0,
        min_step: 1.4,
        handoff: 64.0,
        margin: 0.0,
        mirror_coarse: false,
        reflect: false,
        edge_slack: 0.25,
        multiple: 32,
    };

    fn sizes() -> Vec<Vec<f32>> {
        vec![vec![16.0, 32.0], vec![64.0, 128.0], vec![256.0, 512.0]]
    }

    #[test]
    fn anchors_are_row_major_cell_centres_per_stride() {
        let a = anchors(&[8, 16, 32], &sizes(), 64, 32);
        // stride 8: 8×4 cells, 16: 4×2, 32: 2×1; two sizes each.
        assert_eq!(a.len(), 2 * (32 + 8 + 2));
        assert_eq!(a[0], [4.0, 4.0, 16.0]);
        assert_eq!(a[1], [4.0, 4.0, 32.0]);
        assert_eq!(a[2], [12.0, 4.0, 16.0]);
        assert_eq!(a[16], [4.0, 12.0, 16.0]);
        assert_eq!(a[64], [8.0, 8.0, 64.0]);
        assert_eq!(*a.last().unwrap(), [48.0, 16.0, 512.0]);
    }

    #[test]
    fn decode_applies_the_variances_and_the_pass_scale() {
        // One anchor at (100, 60) of size 64 in a pass at half scale with origin (10, 20).
        let pass = Pass { origin: [10.0, 20.0], scale: 0.5, width: 256, height: 256, max_face: 300.0, ..Pass::default() };
        let anchors = [[100.0, 60.0, 64.0], [10.0, 10.0, 16.0]];
        let loc = [1.0, -0.5, 0.0, (2.0f32).ln() / 0.2, 0.0, 0.0, 0.0, 0.0];
        let conf = [0.1, 0.9, 0.8, 0.2];
        let mut lm = [0.0f32; 20];
        lm[0] = -1.0; // left eye 0.1·64 = 6.4 input px left of the anchor centre
        let dets = decode(&pass, (&loc, &conf, &lm), &anchors, [0.1, 0.2], 0.5, (1000, 1000));
        assert_eq!(dets.len(), 1, "the second anchor scores 0.2");
        let d = &dets[0];
        // Centre (100 + 6.4, 60 − 3.2) input px → (10 + 212.8, 20 + 113.6); 64 wide, 128 high → ×2.
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
        assert!(close((d.rect.x0 + d.rect.x1) / 2.0, 222.8) && close((d.rect.y0 + d.rect.y1) / 2.0, 133.6), "{d:?}");
        assert!(close(d.rect.width(), 128.0) && close(d.rect.height(), 256.0));
        assert!(close(d.keypoints[0][0], 10.0 + 2.0 * 93.6) && close(d.keypoints[0][1], 140.0));
        assert_eq!(d.keypoints.len(), KEYPOINTS);
        assert_eq!(d.score, 0.9);
        // Seen in a mirrored input, the same outputs are a face mirrored about the input's middle
        // (x = 128 input px, 266 px in the image), with its eyes in image order again.
        let mirrored = decode(&Pass { mirror: true, ..pass }, (&loc, &conf, &lm), &anchors, [0.1, 0.2], 0.5, (1000, 1000));
        let m = &mirrored[0];
        assert!(close((m.rect.x0 + m.rect.x1) / 2.0, 10.0 + 2.0 * (256.0 - 106.4)), "{m:?}");
        assert!(m.keypoints[1][0] > m.keypoints[0][0] || m.keypoints[0] == [0.0; 2]);
        assert!(close(m.keypoints[1][0], 10.0 + 2.0 * (256.0 - 93.6)));
        // The same box is too large for a pass that keeps faces up to 200 px.
        let fine = Pass { max_face: 200.0, ..pass };
        assert!(decode(&fine, (&loc, &conf, &lm), &anchors, [0.1, 0.2], 0.5, (1000, 1000)).is_empty());
    }

    #[test]
    fn the_coarse_pass_can_see_past_the_border() {
        let p = passes(1000, 500, &Scales { margin: 0.1, ..SCALES }, SCALES.fine_pixels);
        // 1200×700 px of frame from (−100, −100), shrunk so its long side is 640.
        assert_eq!(p[0].origin, [-100.0, -100.0]);
        assert!((p[0].scale - 640.0 / 1200.0).abs() < 1e-6);
        assert_eq!((p[0].width, p[0].height), (640, 384));
        assert_eq!(p[1].origin, [0.0, 0.0]);
    }

    #[test]
    fn a_large_photo_gets_a_coarse_and_a_budgeted_fine_pass() {
        let p = passes(4000, 3000, &SCALES, SCALES.fine_pixels);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].width, p[0].height), (640, 480));
        // Fine: sqrt(2e6 / 12e6) = 0.408 → 1633×1225, rounded up to multiples of 32.
        assert!((p[1].scale - 0.4082).abs() < 1e-3);
        assert_eq!((p[1].width, p[1].height), (1664, 1248));
        assert!((p[1].width * p[1].height) as f32 <= 1.05 * SCALES.fine_pixels);
        // A GPU budget runs the photo at full size or more.
        let gpu = passes(4000, 3000, &SCALES, SCALES.fine_pixels_cuda);
        assert!(gpu[1].scale >= 1.0);
    }

    #[test]
    fn mid_sized_photos_are_enlarged_and_thumbnails_run_once() {
        let p = passes(1024, 768, &SCALES, SCALES.fine_pixels);
        assert_eq!(p[0].scale, 0.625);
        assert!((p[1].scale - (2.0e6f32 / (1024.0 * 768.0)).sqrt()).abs() < 1e-4);
        let small = passes(800, 533, &SCALES, SCALES.fine_pixels);
        assert_eq!(small[1].scale, 2.0, "enlarged at most twice");
        let thumb = passes(250, 250, &SCALES, SCALES.fine_pixels);
        assert_eq!(thumb, vec![Pass { origin: [0.0, 0.0], scale: 1.0, width: 256, height: 256, ..Pass::default() }]);
        let mirrored = passes(1024, 768, &Scales { mirror_coarse: true, ..SCALES }, SCALES.fine_pixels);
        assert_eq!(mirrored.len(), 3);
        assert_eq!(mirrored[1], Pass { mirror: true, ..mirrored[0] });
        // Faces 64 px or more at the coarse scale (102.4 px in the photo) come from the coarse pass.
        assert_eq!(p[1].max_face, 64.0 / 0.625);
    }

    #[test]
    fn a_reflected_border_keeps_faces_cut_by_the_edge_and_drops_mirror_images() {
        let p = passes(1000, 500, &Scales { margin: 0.1, reflect: true, edge_slack: 0.1, ..SCALES }, SCALES.fine_pixels);
        assert_eq!(p[0].edges, Edges::Reflect);
        assert_eq!(p[1].edges, Edges::Outside, "the fine pass sees the photo alone");
        let photo = 1000.0;
        let face = |x0: f32| Rect { x0, y0: 100.0, x1: x0 + 100.0, y1: 220.0 };
        // Cut by the left edge at its middle (centre on the edge), or 5 px past it: a face.
        assert!(p[0].keeps(&face(-50.0), photo) && p[0].keeps(&face(-55.0), photo));
        // The mirror image of a face 20 px inside the edge is centred 70 px outside it: dropped.
        assert!(!p[0].keeps(&face(-120.0), photo));
        assert!(!p[0].keeps(&Rect { x0: 960.0, y0: 100.0, x1: 1100.0, y1: 220.0 }, photo), "centred 30 px past the right edge");
        // Above and below nothing is mirrored: a face cut by the top edge stays.
        assert!(p[0].keeps(&Rect { x0: 300.0, y0: -100.0, x1: 400.0, y1: 20.0 }, photo));
        // Without reflection every box is kept (it is clipped later).
        assert!(p[1].keeps(&face(-120.0), photo));
    }

    #[test]
    fn a_second_look_frames_the_face_at_a_fixed_size() {
        let v = Verify { below: 0.9, context: 3.0, face: 64.0 };
        let p = v.pass(&Rect { x0: 100.0, y0: 100.0, x1: 120.0, y1: 132.0 }, 32);
        // 32 px face → 64 px; a 96 px square around its centre (110, 116) → 192×192.
        assert_eq!((p.scale, p.width, p.height), (2.0, 192, 192));
        assert_eq!(p.origin, [62.0, 68.0]);
    }

    #[test]
    fn the_portrait_pass_centres_the_photo_in_a_padded_frame() {
        let p = portrait_pass(200, 300, &Portrait { pad: 0.25, side: 320.0, mirror: false }, 32);
        // Frame 450 px around the photo, shrunk to 320.
        assert!((p.scale - 320.0 / 450.0).abs() < 1e-6);
        assert_eq!(p.origin, [-125.0, -75.0]);
        assert_eq!((p.width, p.height), (320, 320));
        let centre = p.to_image(160.0, 160.0);
        assert!((centre[0] - 100.0).abs() < 1e-3 && (centre[1] - 150.0).abs() < 1e-3);
    }
}
