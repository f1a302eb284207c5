//! Face alignment: the least-squares similarity transform (rotation, uniform scale, translation;
//! Umeyama without reflection) from detector keypoints to the embedder's template, and the sampling
//! map that warps the face into the template's chip.

use super::geometry::Rect;
use super::raster::Affine;

/// A similarity transform `p ↦ c·p + t` on the plane, written with complex numbers:
/// `c = (a, b)` is scale·(cos θ, sin θ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// Least-squares fit mapping each `src[i]` to `dst[i]`. Returns `None` for degenerate input
    /// (fewer than two points or all source points equal).
    pub fn fit(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
        let n = src.len();
        if n < 2 || n != dst.len() {
            return None;
        }
        let mean = |pts: &[[f32; 2]]| {
            let s = pts.iter().fold([0.0f64; 2], |acc, p| [acc[0] + p[0] as f64, acc[1] + p[1] as f64]);
            [s[0] / n as f64, s[1] / n as f64]
        };
        let (ms, md) = (mean(src), mean(dst));
        // c = Σ conj(s_i)·d_i / Σ |s_i|², over centred points.
        let (mut re, mut im, mut norm) = (0.0f64, 0.0f64, 0.0f64);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = (s[0] as f64 - ms[0], s[1] as f64 - ms[1]);
            let (dx, dy) = (d[0] as f64 - md[0], d[1] as f64 - md[1]);
            re += sx * dx + sy * dy;
            im += sx * dy - sy * dx;
            norm += sx * sx + sy * sy;
        }
        if norm < 1e-9 {
            return None;
        }
        let (a, b) = (re / norm, im / norm);
        let tx = md[0] - (a * ms[0] - b * ms[1]);
        let ty = md[1] - (b * ms[0] + a * ms[1]);
        Some(Similarity { a: a as f32, b: b as f32, tx: tx as f32, ty: ty as f32 })
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [self.a * p[0] - self.b * p[1] + self.tx, self.b * p[0] + self.a * p[1] + self.ty]
    }

    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    pub fn inverse(&self) -> Similarity {
        let n = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / n, -self.b / n);
        Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) }
    }
}

/// The sampling map for a chip whose template points are in pixel-centre coordinates (chip pixel
/// `(c, r)` is the point `(c, r)`), given `to_chip`, the fitted image → chip transform with image
/// points in continuous coordinates.
pub fn chip_map(to_chip: &Similarity) -> Affine {
    let inv = to_chip.inverse();
    // Affine::apply adds 0.5 to col/row; the template convention puts pixel centres on integers.
    let origin = inv.apply([-0.5, -0.5]);
    let ex = inv.apply([0.5, -0.5]);
    let ey = inv.apply([-0.5, 0.5]);
    Affine {
        origin,
        dx: [ex[0] - origin[0], ex[1] - origin[1]],
        dy: [ey[0] - origin[0], ey[1] - origin[1]],
    }
}

/// Where the `template` points (in a `chip`-pixel chip with dlib's geometry) fall in a face box
/// drawn around a frontal face, for a face with no landmarks. In dlib's 150 px chip a tight face
/// box spans about x 5–143 and y −21–148 (eyes at 40 % of its height, mouth corners at 76 %).
pub fn points_in_box(rect: &Rect, template: &[[f32; 2]], chip: usize) -> Vec<[f32; 2]> {
    let k = chip as f32 / 150.0;
    let (x0, y0, w, h) = (5.0 * k, -21.0 * k, 138.0 * k, 169.0 * k);
    template
        .iter()
        .map(|p| [rect.x0 + (p[0] - x0) / w * rect.width(), rect.y0 + (p[1] - y0) / h * rect.height()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: [[f32; 2]; 4] = [[47.7, 47.3], [100.3, 47.0], [74.2, 77.2], [74.3, 107.8]];

    fn close(p: [f32; 2], q: [f32; 2], tol: f32) -> bool {
        (p[0] - q[0]).abs() < tol && (p[1] - q[1]).abs() < tol
    }

    #[test]
    fn recovers_a_known_rotation_scale_and_shift() {
        let (theta, s) = (0.3f32, 2.5f32);
        let truth = Similarity { a: s * theta.cos(), b: s * theta.sin(), tx: 12.0, ty: -7.0 };
        let src: Vec<_> = TEMPLATE.to_vec();
        let dst: Vec<_> = src.iter().map(|&p| truth.apply(p)).collect();
        let fit = Similarity::fit(&src, &dst).unwrap();
        assert!((fit.a - truth.a).abs() < 1e-4 && (fit.b - truth.b).abs() < 1e-4);
        assert!((fit.tx - truth.tx).abs() < 1e-2 && (fit.ty - truth.ty).abs() < 1e-2);
        assert!((fit.scale() - s).abs() < 1e-4);
    }

    #[test]
    fn inverse_undoes_the_transform() {
        let t = Similarity { a: 0.8, b: -0.4, tx: 3.0, ty: 9.0 };
        let p = [17.0, -4.0];
        assert!(close(t.inverse().apply(t.apply(p)), p, 1e-4));
    }

    #[test]
    fn a_mirrored_face_is_not_fitted_by_a_reflection() {
        // Swap left/right: the best similarity cannot mirror, so the residual stays large.
        let mirrored: Vec<_> = TEMPLATE.iter().map(|p| [150.0 - p[0], p[1]]).collect();
        let fit = Similarity::fit(&mirrored, &TEMPLATE).unwrap();
        let err: f32 = mirrored.iter().zip(TEMPLATE).map(|(&s, d)| {
            let q = fit.apply(s);
            (q[0] - d[0]).hypot(q[1] - d[1])
        }).sum();
        assert!(err > 20.0, "residual {err}");
    }

    #[test]
    fn points_in_a_drawn_box_sit_where_a_frontal_face_has_them() {
        let rect = Rect { x0: 100.0, y0: 200.0, x1: 238.0, y1: 369.0 };
        let p = points_in_box(&rect, &TEMPLATE, 150);
        // The box is the chip's face box shifted by (95, 221): the points move with it.
        assert!(close(p[0], [47.7 + 95.0, 47.3 + 221.0], 1e-3), "{p:?}");
        assert!(p[0][0] < p[1][0] && p[2][1] < p[3][1]);
    }

    #[test]
    fn degenerate_points_are_rejected() {
        assert!(Similarity::fit(&[[1.0, 1.0]; 4], &TEMPLATE).is_none());
        assert!(Similarity::fit(&[[1.0, 1.0]], &[[2.0, 2.0]]).is_none());
    }

    #[test]
    fn chip_map_sends_template_points_back_to_the_keypoints() {
        // Keypoints of a face at twice the chip scale, shifted.
        let kps: Vec<[f32; 2]> = TEMPLATE.iter().map(|p| [2.0 * p[0] + 100.0, 2.0 * p[1] + 50.0]).collect();
        let to_chip = Similarity::fit(&kps, &TEMPLATE).unwrap();
        let map = chip_map(&to_chip);
        // Chip pixel (47.7, 47.3) — fractional col/row — maps to the first keypoint.
        let p = map.apply(TEMPLATE[0][0], TEMPLATE[0][1]);
        assert!(close(p, kps[0], 1e-3), "{p:?} vs {:?}", kps[0]);
        assert!((map.scale() - 2.0).abs() < 1e-4);
    }
}
