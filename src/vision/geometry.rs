//! Boxes, detections and non-maximum suppression, in image pixel coordinates
//! (continuous: pixel `k` covers `[k, k+1)`).

use serde::{Deserialize, Serialize};


#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Rect {
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Rect {
        Rect { x0: cx - w / 2.0, y0: cy - h / 2.0, x1: cx + w / 2.0, y1: cy + h / 2.0 }
    }

    /// The centre point, (x, y).
    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn iou(&self, other: &Rect) -> f32 {
        let inter = Rect {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        }
        .area();
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The box clipped to an image of `width` × `height`.
    pub fn clip(&self, width: f32, height: f32) -> Rect {
        Rect {
            x0: self.x0.clamp(0.0, width),
            y0: self.y0.clamp(0.0, height),
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
        }
    }
}

/// One detected face. `keypoints` are the detector family's landmarks, in its order (see
/// `blazeface::KEYPOINTS`, `retinaface::KEYPOINTS`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub rect: Rect,
    pub score: f32,
    pub keypoints: Vec<[f32; 2]>,
}

/// The best score among `found` boxes overlapping `rect` by IoU above 0.4 (0 when none).
pub fn best_overlap(rect: &Rect, found: &[Detection]) -> f32 {
    found.iter().filter(|d| d.rect.iou(rect) > 0.4).map(|d| d.score).fold(0.0, f32::max)
}

/// Weighted non-maximum suppression (BlazeFace's blending variant): the highest-scoring detection
/// absorbs every other one overlapping it by more than `iou_threshold`; the merged box and keypoints
/// are the score-weighted mean of the group, the score is the group's best. Returns detections by
/// falling score.
pub fn weighted_nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut used = vec![false; dets.len()];
    for i in 0..dets.len() {
        if used[i] {
            continue;
        }
        let lead = dets[i].rect;
        let mut total = 0.0f32;
        let mut rect = [0.0f32; 4];
        let mut kps = vec![[0.0f32; 2]; dets[i].keypoints.len()];
        for j in i..dets.len() {
            if used[j] || lead.iou(&dets[j].rect) <= iou_threshold {
                continue;
            }
            used[j] = true;
            let d = &dets[j];
            let w = d.score;
            total += w;
            for (acc, v) in rect.iter_mut().zip([d.rect.x0, d.rect.y0, d.rect.x1, d.rect.y1]) {
                *acc += w * v;
            }
            for (acc, p) in kps.iter_mut().zip(d.keypoints.iter()) {
                acc[0] += w * p[0];
                acc[1] += w * p[1];
            }
        }
        let rect = Rect { x0: rect[0] / total, y0: rect[1] / total, x1: rect[2] / total, y1: rect[3] / total };
        for p in kps.iter_mut() {
            p[0] /= total;
            p[1] /= total;
        }
        out.push(Detection { rect, score: dets[i].score, keypoints: kps });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, size: f32, score: f32) -> Detection {
        let rect = Rect::from_center(x, y, size, size);
        Detection { rect, score, keypoints: vec![[x, y]; 6] }
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = Rect { x0: 0.0, y0: 0.0, x1: 10.0, y1: 10.0 };
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&Rect { x0: 20.0, y0: 0.0, x1: 30.0, y1: 10.0 }), 0.0);
        let half = Rect { x0: 5.0, y0: 0.0, x1: 15.0, y1: 10.0 };
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_merges_overlapping_boxes_by_score_weight_and_keeps_separate_ones() {
        let dets = vec![det(100.0, 100.0, 50.0, 0.9), det(104.0, 100.0, 50.0, 0.3), det(300.0, 300.0, 40.0, 0.8)];
        let out = weighted_nms(dets, 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        // Centre blended: (100*0.9 + 104*0.3) / 1.2 = 101.
        let cx = (out[0].rect.x0 + out[0].rect.x1) / 2.0;
        assert!((cx - 101.0).abs() < 1e-4, "cx = {cx}");
        assert!((out[0].keypoints[2][0] - 101.0).abs() < 1e-4);
        assert_eq!(out[1].rect, Rect::from_center(300.0, 300.0, 40.0, 40.0));
    }

    #[test]
    fn nms_keeps_boxes_overlapping_below_threshold() {
        // IoU of these two is 1/3 (> 0.3) versus 1/7 for a quarter overlap.
        let a = det(0.0, 0.0, 10.0, 0.9);
        let b = det(7.5, 0.0, 10.0, 0.8);
        assert!(a.rect.iou(&b.rect) < 0.3);
        assert_eq!(weighted_nms(vec![a, b], 0.3).len(), 2);
    }
}
