//! Removing points from an HNSW graph without building it again. hnsw_rs 0.3.5 has no delete, and
//! a rebuild of 100,000 faces takes minutes, which an erasure cannot wait for. So the graph is
//! written anew in hnsw_rs's own dump format without the removed points: each survivor keeps its
//! links, and the links it loses are replaced by the nearest survivors reached from the removed
//! points through their own links on the same layer (a local repair), so the graph stays
//! connected where the removed points held it together, even when a whole dense cluster goes. The files are then loaded back with hnsw_rs itself
//! before they are used, so a format mismatch can only make the caller fall back to a full build.
//!
//! The format (all integers native-endian, as hnsw_rs writes them), pinned to hnsw_rs =0.3.5:
//! graph file: description (magic, mode, max connections, level scale, layers, ef, points,
//! dimension, distance and type names), then the number of layers and per layer a magic, the
//! point count and each point (magic, origin id, layer, rank, then for every layer its
//! neighbours as origin id, layer, rank, distance), then the entry point (origin id, layer,
//! rank). Data file: magic and dimension, then per point, in the graph's order, magic, origin
//! id, byte length and the raw vector.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use hnsw_rs::prelude::*;

use super::UnitCosine;
use crate::error::{Error, Result};

const MAGIC_DESCRIPTION: u32 = 0x002a_6779;
const MAGIC_LAYER: u32 = 0x000a_676f;
const MAGIC_POINT: u32 = 0x000a_678f;
const MAGIC_DATA: u32 = 0xa67f_0000;
/// hnsw_rs's fixed number of layers (`NB_LAYER_MAX`).
const LAYERS: usize = 16;
/// Removed points walked through, per lost link set, to find replacement links.
const REPAIR_WALK: usize = 64;

type Graph = Hnsw<'static, f32, UnitCosine>;

/// Writes `hnsw` without the points whose origin id is in `dead` as the dump pair `base` in
/// `dir`; returns the number of points written.
pub fn write_without(hnsw: &Graph, dead: &HashSet<usize>, dir: &Path, base: &str) -> Result<usize> {
    let indexation = hnsw.get_point_indexation();
    let layers: Vec<Vec<Arc<Point<'static, f32>>>> =
        (0..LAYERS).map(|l| indexation.get_layer_iterator(l).filter(|p| !dead.contains(&p.get_origin_id())).collect()).collect();
    // Every point by origin id (the removed ones too: their neighbours are the repair candidates).
    let mut by_id: HashMap<usize, Arc<Point<'static, f32>>> = HashMap::new();
    for l in 0..LAYERS {
        by_id.extend(indexation.get_layer_iterator(l).map(|p| (p.get_origin_id(), p)));
    }
    // New place of each survivor: its layer stays, its rank closes up.
    let mut place: HashMap<usize, (u8, i32)> = HashMap::new();
    for (l, points) in layers.iter().enumerate() {
        for (rank, p) in points.iter().enumerate() {
            place.insert(p.get_origin_id(), (l as u8, rank as i32));
        }
    }
    let count: usize = layers.iter().map(Vec::len).sum();

    let graph_path = dir.join(format!("{base}.hnsw.graph"));
    let data_path = dir.join(format!("{base}.hnsw.data"));
    let mut graph = Writer::create(&graph_path)?;
    let mut data = Writer::create(&data_path)?;
    // Description, as hnsw_rs's `Description::dump` writes it (full mode).
    graph.u32(MAGIC_DESCRIPTION);
    graph.bytes(&[1, hnsw.get_max_nb_connection()]);
    graph.bytes(&indexation.get_level_scale().to_ne_bytes());
    graph.bytes(&[hnsw.get_max_level() as u8]);
    graph.usize(hnsw.get_ef_construction());
    graph.usize(count);
    let dim = layers.iter().flatten().next().map_or(0, |p| p.get_v().len());
    graph.usize(dim);
    for name in [hnsw.get_distance_name(), std::any::type_name::<f32>().to_string()] {
        graph.usize(name.len());
        graph.bytes(name.as_bytes());
    }
    data.u32(MAGIC_DATA);
    data.usize(dim);

    graph.bytes(&[LAYERS as u8]);
    for (l, points) in layers.iter().enumerate() {
        graph.u32(MAGIC_LAYER);
        graph.usize(points.len());
        for p in points {
            let id = p.get_origin_id();
            graph.u32(MAGIC_POINT);
            graph.usize(id);
            graph.bytes(&[l as u8]);
            graph.bytes(&place[&id].1.to_ne_bytes());
            for layer_links in repaired(p, dead, &by_id) {
                graph.usize(layer_links.len());
                for (n, distance) in layer_links {
                    let (nl, nr) = place[&n];
                    graph.usize(n);
                    graph.bytes(&[nl]);
                    graph.bytes(&nr.to_ne_bytes());
                    graph.bytes(&distance.to_ne_bytes());
                }
            }
            let v = p.get_v();
            data.u32(MAGIC_DATA);
            data.bytes(&(id as u64).to_ne_bytes());
            data.bytes(&((4 * v.len()) as u64).to_ne_bytes());
            for x in v {
                data.bytes(&x.to_ne_bytes());
            }
        }
    }
    // Entry point: a survivor on the highest layer that has one.
    let entry = layers.iter().rev().find_map(|points| points.first());
    let Some(entry) = entry else {
        return Err(Error::Invalid("cannot write an HNSW graph with no points".into()));
    };
    let (el, er) = place[&entry.get_origin_id()];
    graph.usize(entry.get_origin_id());
    graph.bytes(&[el]);
    graph.bytes(&er.to_ne_bytes());
    graph.finish()?;
    data.finish()?;
    Ok(count)
}

/// `p`'s links per layer with the removed points replaced: as many as it lost, the nearest of the
/// survivors reached from the lost ones through removed points only (a breadth-first walk of at
/// most `REPAIR_WALK` removed points), so a point linked into a removed cluster is linked past it.
fn repaired(p: &Point<'static, f32>, dead: &HashSet<usize>, points: &HashMap<usize, Arc<Point<'static, f32>>>) -> Vec<Vec<(usize, f32)>> {
    let me = p.get_origin_id();
    let own = p.get_neighborhood_id();
    let mut out = Vec::with_capacity(LAYERS);
    for (l, layer) in own.iter().enumerate().take(LAYERS) {
        let mut kept: Vec<(usize, f32)> = layer.iter().filter(|n| !dead.contains(&n.d_id)).map(|n| (n.d_id, n.distance)).collect();
        let lost: Vec<usize> = layer.iter().filter(|n| dead.contains(&n.d_id)).map(|n| n.d_id).collect();
        if !lost.is_empty() {
            let mut seen: HashSet<usize> = kept.iter().map(|k| k.0).chain(lost.iter().copied()).chain([me]).collect();
            let mut queue: VecDeque<usize> = lost.iter().copied().collect();
            let mut candidates = Vec::new();
            let mut walked = 0;
            while let Some(gone) = queue.pop_front() {
                walked += 1;
                if walked > REPAIR_WALK {
                    break;
                }
                let Some(links) = points.get(&gone).map(|g| g.get_neighborhood_id()) else { continue };
                for n in links.get(l).into_iter().flatten().map(|n| n.d_id) {
                    if !seen.insert(n) {
                        continue;
                    }
                    if dead.contains(&n) {
                        queue.push_back(n);
                    } else if let Some(q) = points.get(&n) {
                        candidates.push((n, UnitCosine.eval(p.get_v(), q.get_v())));
                    }
                }
            }
            candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            kept.extend(candidates.into_iter().take(lost.len()));
        }
        kept.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        out.push(kept);
    }
    out.resize(LAYERS, Vec::new());
    out
}

/// A buffered file writer that remembers its first error.
struct Writer {
    path: std::path::PathBuf,
    out: BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
}

impl Writer {
    fn create(path: &Path) -> Result<Writer> {
        crate::crash::point("creating a compacted index file");
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Writer { path: path.to_path_buf(), out: BufWriter::with_capacity(1 << 20, file), error: None })
    }

    fn bytes(&mut self, b: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(b) {
                self.error = Some(e);
            }
        }
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_ne_bytes());
    }

    fn usize(&mut self, v: usize) {
        self.bytes(&v.to_ne_bytes());
    }

    fn finish(mut self) -> Result<()> {
        // A crash here leaves the file part written (the buffer's first megabyte may be out).
        crate::crash::point("finishing a compacted index file");
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
        if let Some(e) = self.error {
            return Err(Error::io(&self.path, e));
        }
        let file = self.out.into_inner().map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}
