//! Pixel sampling for the models: an image pyramid (2× box downsampling) so that any resize reads
//! from a level at most 2× larger than the output, and bilinear sampling from it. Letterboxing a
//! detector tile and warping an aligned face chip are both "sample the source at an affine map of
//! the output grid", so they share [`Pyramid::sample_affine`].

use image::RgbImage;

/// An RGB image and its successive halvings (level `k` is 2^k times smaller).
pub struct Pyramid {
    levels: Vec<RgbImage>,
}

/// Maps output pixel `(col, row)` to source point `origin + col·dx + row·dy` in level-0 continuous
/// coordinates (pixel `k` covers `[k, k+1)`), where the output pixel's centre is taken.
#[derive(Clone, Copy, Debug)]
pub struct Affine {
    pub origin: [f32; 2],
    pub dx: [f32; 2],
    pub dy: [f32; 2],
}

impl Affine {
    /// The source point for output pixel `(col, row)`, at its centre.
    pub fn apply(&self, col: f32, row: f32) -> [f32; 2] {
        [
            self.origin[0] + (col + 0.5) * self.dx[0] + (row + 0.5) * self.dy[0],
            self.origin[1] + (col + 0.5) * self.dx[1] + (row + 0.5) * self.dy[1],
        ]
    }

    /// Source pixels per output pixel (the larger of the two axes).
    pub fn scale(&self) -> f32 {
        self.dx[0].hypot(self.dx[1]).max(self.dy[0].hypot(self.dy[1]))
    }
}

impl Pyramid {
    /// Builds levels until the smaller side drops below `min_side` pixels.
    pub fn new(image: RgbImage, min_side: u32) -> Pyramid {
        let mut levels = vec![image];
        loop {
            let last = levels.last().expect("pyramid has level 0");
            if last.width().min(last.height()) / 2 < min_side.max(1) {
                break;
            }
            let next = halve(last);
            levels.push(next);
        }
        Pyramid { levels }
    }

    pub fn width(&self) -> u32 {
        self.levels[0].width()
    }

    pub fn height(&self) -> u32 {
        self.levels[0].height()
    }

    pub fn base(&self) -> &RgbImage {
        &self.levels[0]
    }

    /// The full-size image, the other levels dropped.
    pub fn into_base(mut self) -> RgbImage {
        self.levels.swap_remove(0)
    }

    /// The coarsest level that still has at least one pixel per output pixel at `scale`
    /// source pixels per output pixel.
    fn level_for(&self, scale: f32) -> usize {
        let mut k = 0;
        while k + 1 < self.levels.len() && (1u32 << (k + 1)) as f32 <= scale {
            k += 1;
        }
        k
    }

    /// Calls `write(row, col, sample)` for every output pixel of a `width`×`height` grid, with the
    /// bilinear sample of the source at `map`, or `None` outside the image. Axis-aligned maps
    /// (letterboxed detector frames) compute each column's and row's position once.
    pub fn sample_affine(&self, map: &Affine, width: usize, height: usize, write: impl FnMut(usize, usize, Option<[f32; 3]>)) {
        self.sample_affine_with(map, width, height, Edges::Outside, write)
    }

    /// [`Pyramid::sample_affine`], with points just left or right of the image mirrored into it
    /// when `edges` is [`Edges::Reflect`].
    pub fn sample_affine_with(
        &self,
        map: &Affine,
        width: usize,
        height: usize,
        edges: Edges,
        mut write: impl FnMut(usize, usize, Option<[f32; 3]>),
    ) {
        let k = self.level_for(map.scale());
        let img = &self.levels[k];
        let f = (1u32 << k) as f32;
        if map.dx[1] == 0.0 && map.dy[0] == 0.0 {
            let cols: Vec<_> =
                (0..width).map(|c| axis(edges.fold((map.origin[0] + (c as f32 + 0.5) * map.dx[0]) / f, img.width()), img.width())).collect();
            for row in 0..height {
                let y = axis((map.origin[1] + (row as f32 + 0.5) * map.dy[1]) / f, img.height());
                for (col, x) in cols.iter().enumerate() {
                    write(row, col, x.zip(y).map(|(x, y)| bilinear(img, x, y)));
                }
            }
        } else {
            for row in 0..height {
                for col in 0..width {
                    let [x, y] = map.apply(col as f32, row as f32);
                    let sample = axis(edges.fold(x / f, img.width()), img.width()).zip(axis(y / f, img.height())).map(|(x, y)| bilinear(img, x, y));
                    write(row, col, sample);
                }
            }
        }
    }
}

/// What a sample past the image's edge gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Edges {
    /// Nothing: the caller's padding.
    #[default]
    Outside,
    /// The image mirrored about its left and right edges (up to one image's width beyond them):
    /// a face cut by a side near its middle is seen whole, as itself and its mirror image. Above
    /// and below, nothing: a face mirrored upside down is no face, and a mirrored corner can look
    /// like one.
    Reflect,
}

impl Edges {
    /// Horizontal coordinate `x` on a row of `width` pixels, mirrored into it for [`Edges::Reflect`].
    fn fold(self, x: f32, width: u32) -> f32 {
        let width = width as f32;
        match self {
            Edges::Reflect if x < 0.0 => -x,
            Edges::Reflect if x > width => 2.0 * width - x,
            _ => x,
        }
    }
}

/// Where continuous coordinate `lv` (of the level sampled) falls on an axis of `len` pixels: the
/// two neighbouring pixel centres and the weight of the second, or `None` outside.
fn axis(lv: f32, len: u32) -> Option<(usize, usize, f32)> {
    if !(0.0..=len as f32).contains(&lv) {
        return None;
    }
    let p = (lv - 0.5).clamp(0.0, (len - 1) as f32);
    let i0 = p.floor() as usize;
    Some((i0, (i0 + 1).min(len as usize - 1), p - i0 as f32))
}

/// Bilinear sample between the pixels that `axis` picked.
fn bilinear(img: &RgbImage, (x0, x1, fx): (usize, usize, f32), (y0, y1, fy): (usize, usize, f32)) -> [f32; 3] {
    let w = img.width() as usize;
    let raw = img.as_raw();
    let at = |x: usize, y: usize, c: usize| raw[(y * w + x) * 3 + c] as f32;
    let mut out = [0.0f32; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = at(x0, y0, c) * (1.0 - fx) + at(x1, y0, c) * fx;
        let bottom = at(x0, y1, c) * (1.0 - fx) + at(x1, y1, c) * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// 2×2 box downsampling; an odd last row/column is dropped.
fn halve(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.width() / 2, img.height() / 2);
    let src = img.as_raw();
    let stride = img.width() as usize * 3;
    let mut out = vec![0u8; w as usize * h as usize * 3];
    for y in 0..h as usize {
        let r0 = &src[2 * y * stride..];
        let r1 = &src[(2 * y + 1) * stride..];
        for x in 0..w as usize {
            for c in 0..3 {
                let i = 6 * x + c;
                let sum = r0[i] as u32 + r0[i + 3] as u32 + r1[i] as u32 + r1[i + 3] as u32;
                out[(y * w as usize + x) * 3 + c] = ((sum + 2) / 4) as u8;
            }
        }
    }
    RgbImage::from_raw(w, h, out).expect("buffer matches size")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]))
    }

    #[test]
    fn halving_averages_blocks() {
        let img = RgbImage::from_fn(4, 2, |x, _| image::Rgb([if x % 2 == 0 { 10 } else { 20 }, 0, 255]));
        let half = halve(&img);
        assert_eq!(half.dimensions(), (2, 1));
        assert_eq!(half.get_pixel(0, 0).0, [15, 0, 255]);
    }

    #[test]
    fn identity_map_reproduces_pixels_and_marks_outside() {
        let p = Pyramid::new(gradient(8, 6), 2);
        let map = Affine { origin: [0.0, 0.0], dx: [1.0, 0.0], dy: [0.0, 1.0] };
        let mut seen = vec![];
        p.sample_affine(&map, 8, 6, |r, c, v| seen.push((r, c, v.unwrap())));
        assert!(seen.iter().all(|&(r, c, v)| v == [c as f32, r as f32, 7.0]));
        let shifted = Affine { origin: [-20.0, 0.0], ..map };
        let mut outside = 0;
        p.sample_affine(&shifted, 8, 6, |_, _, v| outside += v.is_none() as usize);
        assert_eq!(outside, 48);
    }

    #[test]
    fn axis_aligned_fast_path_matches_the_general_path() {
        let p = Pyramid::new(gradient(40, 30), 4);
        let aligned = Affine { origin: [-3.0, 2.0], dx: [1.7, 0.0], dy: [0.0, 1.7] };
        // The same map with a rotation too small to change any sample, which takes the general path.
        let nearly = Affine { dx: [1.7, 1e-9], ..aligned };
        let (mut a, mut b) = (vec![], vec![]);
        p.sample_affine(&aligned, 20, 20, |r, c, v| a.push((r, c, v)));
        p.sample_affine(&nearly, 20, 20, |r, c, v| b.push((r, c, v)));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            match (x.2, y.2) {
                (Some(u), Some(v)) => assert!(u.iter().zip(v).all(|(p, q)| (p - q).abs() < 1e-3)),
                (u, v) => assert_eq!(u.is_none(), v.is_none(), "{x:?} vs {y:?}"),
            }
        }
        assert!(a.iter().any(|x| x.2.is_none()) && a.iter().any(|x| x.2.is_some()));
    }

    #[test]
    fn downscaling_reads_a_coarser_level() {
        let p = Pyramid::new(gradient(64, 64), 4);
        assert_eq!(p.level_for(1.0), 0);
        assert_eq!(p.level_for(3.9), 1);
        assert_eq!(p.level_for(8.0), 3);
        // Sampling at 4× still returns the mean position of the source block.
        let map = Affine { origin: [0.0, 0.0], dx: [4.0, 0.0], dy: [0.0, 4.0] };
        let mut first = None;
        p.sample_affine(&map, 16, 16, |r, c, v| {
            if r == 0 && c == 0 {
                first = v
            }
        });
        let v = first.unwrap();
        assert!((v[0] - 1.5).abs() < 0.6 && (v[1] - 1.5).abs() < 0.6, "{v:?}");
    }

    #[test]
    fn reflected_edges_mirror_the_pixels_next_to_the_edge() {
        let p = Pyramid::new(gradient(8, 6), 2);
        // Four pixels left of the image and one row above it, then the first image pixels.
        let map = Affine { origin: [-4.0, -1.0], dx: [1.0, 0.0], dy: [0.0, 1.0] };
        let mut seen = vec![];
        p.sample_affine_with(&map, 8, 2, Edges::Reflect, |r, c, v| seen.push((r, c, v)));
        // Output column c samples x = c − 3.5: mirrored, 3.5 − c for c < 4.
        let at = |r: usize, c: usize| seen.iter().find(|s| s.0 == r && s.1 == c).unwrap().2;
        assert_eq!(at(1, 0), Some([3.0, 0.0, 7.0]));
        assert_eq!(at(1, 3), Some([0.0, 0.0, 7.0]));
        assert_eq!(at(1, 4), Some([0.0, 0.0, 7.0]));
        assert_eq!(at(1, 7), Some([3.0, 0.0, 7.0]));
        assert!((0..8).all(|c| at(0, c).is_none()), "the row above the image is not mirrored");
        // The general (rotated) path mirrors the same way.
        let turned = Affine { dx: [1.0, 1e-9], ..map };
        let mut general = vec![];
        p.sample_affine_with(&turned, 8, 2, Edges::Reflect, |r, c, v| general.push((r, c, v)));
        assert_eq!(general, seen);
        // Past one image's length beyond the edge, nothing.
        let far = Affine { origin: [-20.0, 0.0], ..map };
        let mut outside = 0;
        p.sample_affine_with(&far, 4, 1, Edges::Reflect, |_, _, v| outside += v.is_none() as usize);
        assert_eq!(outside, 4);
    }
}
