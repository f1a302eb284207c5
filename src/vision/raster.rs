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

    /// The coarsest level that still has at least one pixel per output pixel at `scale`
    /// source pixels per output pixel.
    fn level_for(&self, scale: f32) -> usize {
        let mut k = 0;
        while k + 1 < self.levels.len() && (1u32 << (k + 1)) as f32 <= scale {
            k += 1;
        }
        k
    }

    /// Fills `out` (HWC, `width`×`height`×3) with bilinear samples of the source at `map`;
    /// points outside the image get `None` from `pixel` and are written as `fill`.
    /// `pixel` turns an RGB sample (0–255) into the three stored values (normalisation).
    pub fn sample_affine(
        &self,
        map: &Affine,
        width: usize,
        height: usize,
        mut write: impl FnMut(usize, usize, Option<[f32; 3]>),
    ) {
        let k = self.level_for(map.scale());
        let img = &self.levels[k];
        let f = (1u32 << k) as f32;
        let (w, h) = (img.width() as f32, img.height() as f32);
        for row in 0..height {
            for col in 0..width {
                let [x, y] = map.apply(col as f32, row as f32);
                // Continuous level-0 coordinates → level-k pixel-centre coordinates.
                let (lx, ly) = (x / f, y / f);
                let value = if lx < 0.0 || ly < 0.0 || lx > w || ly > h {
                    None
                } else {
                    Some(bilinear(img, lx - 0.5, ly - 0.5))
                };
                write(row, col, value);
            }
        }
    }
}

/// Bilinear sample at pixel-centre coordinates, clamped to the border.
fn bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = img.as_raw();
    let at = |xx: i64, yy: i64, c: usize| raw[((yy * w + xx) * 3) as usize + c] as f32;
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
}
