//! A check of a JPEG's entropy-coded data, for damage the decoder hides. zune-jpeg (behind the
//! `image` crate) decodes a JPEG whose data was overwritten in the middle without an error: a
//! wrong Huffman code, a coefficient past the end of its block, or data that ends before (or
//! runs on after) the blocks the frame needs are all decoded as grey or garbled blocks. Its
//! strict mode notices few of them (about one file in ten with 16 bytes overwritten). This module
//! walks the Huffman-coded data of every scan, sequential or progressive, without decoding any
//! pixel: every code must be in its table, every coefficient inside its block and no larger than
//! 8-bit samples allow (garbage decodes to coefficients, and DC sums, no image has), and each
//! restart interval and scan must hold exactly the blocks the frame says, ending at the next
//! marker (restart markers in sequence). A desynchronised stream fails one of these almost
//! always; a change that keeps the stream well-formed (one coefficient bit flipped) cannot be
//! seen by any check short of the original file.
//!
//! Arithmetic-coded, lossless and hierarchical JPEGs, and frames whose height comes after the
//! scan (DNL), are not checked (the decoder refuses the first three).

/// Why the entropy-coded data is damaged, if it is: `Err(reason)`. `Ok` also when the file is of
/// a kind this check does not cover.
pub fn check_entropy_data(bytes: &[u8]) -> Result<(), String> {
    let mut walk = Walk::default();
    let mut i = 2; // after SOI
    let mut scan = 0usize;
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return Err(format!("data where a marker should be, at byte {i}"));
        }
        let marker = bytes[i + 1];
        match marker {
            0xFF => {
                i += 1; // fill byte
                continue;
            }
            0xD9 => return Ok(()), // EOI
            0x01 | 0xD0..=0xD7 => {
                i += 2; // markers without a length (a restart marker after a scan's last block is harmless)
                continue;
            }
            _ => {}
        }
        let Some(len) = bytes.get(i + 2..i + 4).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
            return Ok(()); // cut short: the truncation check names that
        };
        let Some(body) = bytes.get(i + 4..i + 2 + len.max(2)) else { return Ok(()) };
        i += 2 + len;
        match marker {
            // One frame; a second one (or one whose height comes later) is the decoder's to judge.
            0xC0 | 0xC1 | 0xC2 if walk.components.is_empty() => {
                if !walk.frame(body, marker == 0xC2)? {
                    return Ok(());
                }
            }
            0xC0 | 0xC1 | 0xC2 => return Ok(()),
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDC => return Ok(()), // not covered
            0xC4 => walk.tables(body)?,
            0xDB => walk.quantization(body)?,
            0xDD => walk.restart_interval = body.get(..2).map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
            0xDA if walk.components.is_empty() => return Ok(()), // a scan before the frame
            0xDA => {
                scan += 1;
                let mut reader = Bits::new(bytes, i);
                walk.scan(body, &mut reader).map_err(|why| format!("scan {scan}: {why}"))?;
                i = reader.at;
            }
            _ => {}
        }
    }
    Ok(()) // no EOI: the truncation check names that
}

/// A Huffman table in canonical form: for each code length, the first and last code and where
/// its symbols start.
#[derive(Clone, Default)]
struct Huffman {
    max_code: [i32; 17],
    min_code: [i32; 17],
    first: [usize; 17],
    symbols: Vec<u8>,
    /// Symbol and code length for every `FAST_BITS`-bit prefix that starts with a code that
    /// short (length 0: look further).
    fast: Vec<(u8, u8)>,
}

/// The bits looked up at once when decoding a Huffman code.
const FAST_BITS: u32 = 9;

impl Huffman {
    /// The table of `symbols`, `counts[l - 1]` of them with codes of `l` bits; an error when
    /// there are more codes of a length than it has room for.
    fn new(counts: &[u8], symbols: &[u8]) -> Result<Huffman, String> {
        let mut h = Huffman { max_code: [-1; 17], symbols: symbols.to_vec(), ..Huffman::default() };
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16 {
            let n = usize::from(counts[len - 1]);
            h.first[len] = k;
            h.min_code[len] = code;
            if n > 0 {
                code += n as i32;
                k += n;
                h.max_code[len] = code - 1;
                if code > 1 << len {
                    return Err(format!("a Huffman table with more {len}-bit codes than there are"));
                }
            }
            code <<= 1;
        }
        h.fast = vec![(0, 0); 1 << FAST_BITS];
        for len in 1..=FAST_BITS as usize {
            for code in h.min_code[len]..=h.max_code[len] {
                let symbol = h.symbols[h.first[len] + (code - h.min_code[len]) as usize];
                let shift = FAST_BITS as usize - len;
                for suffix in 0..1 << shift {
                    h.fast[((code as usize) << shift) | suffix] = (symbol, len as u8);
                }
            }
        }
        Ok(h)
    }
}

#[derive(Clone, Copy, Default)]
struct Component {
    id: u8,
    /// Its quantization table.
    tq: usize,
    h: usize,
    v: usize,
    /// Blocks across and down when the component is coded alone.
    blocks_w: usize,
    blocks_h: usize,
}

#[derive(Default)]
struct Walk {
    progressive: bool,
    /// 8 or 12 bits a sample: the largest DC difference category is precision + 3 (at most 15).
    precision: u8,
    components: Vec<Component>,
    h_max: usize,
    v_max: usize,
    mcus_w: usize,
    mcus_h: usize,
    restart_interval: usize,
    /// Quantization tables by id, in zigzag order.
    quant: [Vec<u16>; 4],
    /// DC and AC tables by id.
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    /// Progressive: per component and block, which coefficients are nonzero so far (bit k for
    /// zigzag index k), as AC refinement scans need to know how many correction bits follow.
    nonzero: Vec<Vec<u64>>,
}

/// A component's part in a scan.
#[derive(Clone, Copy)]
struct InScan {
    component: usize,
    dc: usize,
    ac: usize,
}

impl Walk {
    /// Reads the frame header; false when the frame is not covered (its height comes later).
    fn frame(&mut self, body: &[u8], progressive: bool) -> Result<bool, String> {
        let head = body.get(..6).ok_or("frame header too short")?;
        let (height, width) = (usize::from(u16::from_be_bytes([head[1], head[2]])), usize::from(u16::from_be_bytes([head[3], head[4]])));
        let count = usize::from(head[5]);
        let specs = body.get(6..6 + 3 * count).ok_or("frame header too short")?;
        self.progressive = progressive;
        self.precision = head[0];
        self.components = specs.chunks(3).map(|c| Component { id: c[0], h: usize::from(c[1] >> 4).max(1), v: usize::from(c[1] & 15).max(1), tq: usize::from(c[2] & 3), ..Component::default() }).collect();
        self.h_max = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        self.v_max = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        // A height of 0 comes later in a DNL marker.
        if height == 0 || width == 0 || self.components.is_empty() {
            return Ok(false);
        }
        self.mcus_w = width.div_ceil(8 * self.h_max);
        self.mcus_h = height.div_ceil(8 * self.v_max);
        for c in &mut self.components {
            c.blocks_w = (width * c.h).div_ceil(self.h_max).div_ceil(8);
            c.blocks_h = (height * c.v).div_ceil(self.v_max).div_ceil(8);
        }
        if progressive {
            self.nonzero = self.components.iter().map(|c| vec![0; c.blocks_w * c.blocks_h]).collect();
        }
        Ok(true)
    }

    fn quantization(&mut self, mut body: &[u8]) -> Result<(), String> {
        while !body.is_empty() {
            let (wide, id) = (body[0] >> 4 != 0, usize::from(body[0] & 3));
            let size = if wide { 128 } else { 64 };
            let values = body.get(1..1 + size).ok_or("quantization table too short")?;
            self.quant[id] = if wide { values.chunks(2).map(|v| u16::from_be_bytes([v[0], v[1]])).collect() } else { values.iter().map(|&v| u16::from(v)).collect() };
            body = &body[1 + size..];
        }
        Ok(())
    }

    fn tables(&mut self, mut body: &[u8]) -> Result<(), String> {
        while !body.is_empty() {
            let (class, id) = (body[0] >> 4, usize::from(body[0] & 15));
            let counts = body.get(1..17).ok_or("Huffman table too short")?;
            let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let symbols = body.get(17..17 + n).ok_or("Huffman table too short")?;
            let table = Some(Huffman::new(counts, symbols)?);
            match (class, id) {
                (0, 0..=3) => self.dc[id] = table,
                (1, 0..=3) => self.ac[id] = table,
                _ => return Err(format!("Huffman table of class {class}, id {id}")),
            }
            body = &body[17 + n..];
        }
        Ok(())
    }

    fn scan(&mut self, body: &[u8], bits: &mut Bits) -> Result<(), String> {
        let count = usize::from(*body.first().ok_or("scan header too short")?);
        let specs = body.get(1..1 + 2 * count).ok_or("scan header too short")?;
        let tail = body.get(1 + 2 * count..4 + 2 * count).ok_or("scan header too short")?;
        let (ss, se, ah, al) = (usize::from(tail[0]), usize::from(tail[1]), tail[2] >> 4, u32::from(tail[2] & 15));
        let mut parts = Vec::new();
        for s in specs.chunks(2) {
            let component = self.components.iter().position(|c| c.id == s[0]).ok_or_else(|| format!("scan names component {}, not in the frame", s[0]))?;
            parts.push(InScan { component, dc: usize::from(s[1] >> 4) & 3, ac: usize::from(s[1] & 15) & 3 });
        }
        let kind = if !self.progressive {
            Kind::Sequential
        } else if ss == 0 {
            if ah == 0 { Kind::DcFirst } else { Kind::DcRefine }
        } else if ah == 0 {
            Kind::AcFirst { ss, se }
        } else {
            Kind::AcRefine { ss, se }
        };
        if matches!(kind, Kind::AcFirst { .. } | Kind::AcRefine { .. }) && (parts.len() != 1 || se > 63 || ss > se) {
            return Err(format!("AC scan with {} components, coefficients {ss}..{se}", parts.len()));
        }
        // Blocks in coding order: each MCU of an interleaved scan holds h × v blocks of each
        // component; a scan of one component codes its blocks one by one.
        let single = parts.len() == 1;
        let (mcus_w, mcus_h) = if single {
            let c = self.components[parts[0].component];
            (c.blocks_w, c.blocks_h)
        } else {
            (self.mcus_w, self.mcus_h)
        };
        let total = mcus_w * mcus_h;
        let mut state = ScanState { eob_run: 0, dc: vec![0; self.components.len()], al };
        for mcu in 0..total {
            if self.restart_interval > 0 && mcu > 0 && mcu % self.restart_interval == 0 {
                bits.restart((mcu / self.restart_interval - 1) % 8).map_err(|why| format!("{why} (after MCU {mcu} of {total})"))?;
                state.eob_run = 0;
                state.dc.fill(0);
            }
            for part in &parts {
                let c = self.components[part.component];
                let (bw, bh) = if single { (1, 1) } else { (c.h, c.v) };
                // In a scan of one component (every AC scan) the MCU is the block's index.
                for _ in 0..bw * bh {
                    self.block(kind, part, mcu, bits, &mut state).map_err(|why| format!("{why} (in MCU {mcu} of {total})"))?;
                }
            }
        }
        bits.end().map_err(|why| format!("{why} (after its {total} MCUs)"))
    }

    /// Walks one block's codes.
    fn block(&mut self, kind: Kind, part: &InScan, block: usize, bits: &mut Bits, state: &mut ScanState) -> Result<(), String> {
        match kind {
            Kind::Sequential | Kind::DcFirst => {
                let dc = self.dc[part.dc].as_ref().ok_or_else(|| format!("no DC Huffman table {}", part.dc))?;
                let q = &self.quant[self.components[part.component].tq];
                let s = u32::from(bits.decode(dc)?);
                if s > (u32::from(self.precision) + 3).min(15) {
                    return Err(format!("a DC difference of {s} bits"));
                }
                let pred = &mut state.dc[part.component];
                *pred += bits.value(s)?;
                in_range(*pred, state.al, step(q, 0), self.precision, LIMIT)?;
                if let Kind::Sequential = kind {
                    let ac = self.ac[part.ac].as_ref().ok_or_else(|| format!("no AC Huffman table {}", part.ac))?;
                    let mut k = 1;
                    while k < 64 {
                        let rs = bits.decode(ac)?;
                        let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
                        if s == 0 {
                            if r != 15 {
                                break; // end of block
                            }
                            k += 16;
                            if k > 64 {
                                return Err("a run of zeros past the end of a block".into());
                            }
                            continue;
                        }
                        k += r;
                        if k > 63 {
                            return Err("a coefficient past the end of a block".into());
                        }
                        in_range(bits.value(s)?, 0, step(q, k), self.precision, LIMIT)?;
                        k += 1;
                    }
                }
                Ok(())
            }
            Kind::DcRefine => bits.skip(1),
            Kind::AcFirst { ss, se } => {
                if state.eob_run > 0 {
                    state.eob_run -= 1;
                    return Ok(());
                }
                let ac = self.ac[part.ac].as_ref().ok_or_else(|| format!("no AC Huffman table {}", part.ac))?;
                let q = &self.quant[self.components[part.component].tq];
                let nonzero = self.nonzero[part.component].get_mut(block).ok_or("block outside the frame")?;
                let mut k = ss;
                while k <= se {
                    let rs = bits.decode(ac)?;
                    let (r, s) = (usize::from(rs >> 4), usize::from(rs & 15));
                    if s == 0 {
                        if r == 15 {
                            k += 16;
                            continue;
                        }
                        state.eob_run = (1usize << r) - 1 + bits.take(r as u32)? as usize;
                        break;
                    }
                    k += r;
                    if k > se {
                        return Err("a coefficient past the scan's band".into());
                    }
                    in_range(bits.value(s as u32)?, state.al, step(q, k), self.precision, LIMIT)?;
                    *nonzero |= 1 << k;
                    k += 1;
                }
                Ok(())
            }
            Kind::AcRefine { ss, se } => {
                let ac = self.ac[part.ac].as_ref().ok_or_else(|| format!("no AC Huffman table {}", part.ac))?;
                let nonzero = self.nonzero[part.component].get_mut(block).ok_or("block outside the frame")?;
                let mut k = ss;
                if state.eob_run == 0 {
                    while k <= se {
                        let rs = bits.decode(ac)?;
                        let (mut r, s) = (i32::from(rs >> 4), rs & 15);
                        if s > 1 {
                            return Err(format!("refinement code of size {s}"));
                        }
                        if s == 0 && r != 15 {
                            state.eob_run = (1usize << r) + bits.take(r as u32)? as usize;
                            break;
                        }
                        if s == 1 {
                            bits.skip(1)?; // the new coefficient's sign
                        }
                        // Skip r zero coefficients (a correction bit for each nonzero one passed),
                        // then place the new one.
                        while k <= se {
                            if *nonzero & (1 << k) != 0 {
                                bits.skip(1)?;
                            } else {
                                r -= 1;
                                if r < 0 {
                                    break;
                                }
                            }
                            k += 1;
                        }
                        if s == 1 {
                            if k > se {
                                return Err("a coefficient past the scan's band".into());
                            }
                            *nonzero |= 1 << k;
                        }
                        k += 1;
                    }
                }
                if state.eob_run > 0 {
                    // The rest of the band: one correction bit for each nonzero coefficient.
                    let band = if k > se { 0 } else { (u64::MAX >> (63 - se)) & (u64::MAX << k) };
                    bits.skip((*nonzero & band).count_ones())?;
                    state.eob_run -= 1;
                }
                Ok(())
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Sequential,
    DcFirst,
    DcRefine,
    AcFirst { ss: usize, se: usize },
    AcRefine { ss: usize, se: usize },
}

struct ScanState {
    /// Blocks left in the current end-of-band run (progressive AC scans).
    eob_run: usize,
    /// Each component's DC coefficient so far (differences are coded), in units of 2^`al`.
    dc: Vec<i32>,
    /// The scan's successive-approximation shift: coded values are the coefficients >> al.
    al: u32,
}

/// The largest coefficient, dequantized, that 8-bit samples give, with room for encoders'
/// approximate DCTs: coefficient (u, v) of the DCT of an 8×8 block of values in -128..=127 is at
/// most 32·A(u)·A(v) in magnitude, where A(u) = C(u)·Σx |cos((2x+1)uπ/16)| is at most 4√2, so
/// 1024 (real encoders were seen to write 1032). Twelve-bit samples allow 16 times as much.
const LIMIT: i64 = 1024 + 64;

/// The quantization step of zigzag coefficient `k` (1 when the table is missing: the decoder
/// refuses such a file anyway).
fn step(q: &[u16], k: usize) -> u16 {
    q.get(k).copied().unwrap_or(1)
}

/// Whether coefficient `value << al`, dequantized by `q`, is one an image can have; one step of
/// `q` is allowed beyond the limit for the encoder's rounding.
fn in_range(value: i32, al: u32, q: u16, precision: u8, limit: i64) -> Result<(), String> {
    let limit = limit << (u32::from(precision.saturating_sub(8)).min(8));
    let q = i64::from(q.max(1));
    let dequantized = (i64::from(value) << al.min(15)).abs() * q;
    if dequantized > limit + q {
        return Err(format!("a coefficient of {dequantized}, which no image of {precision}-bit samples has"));
    }
    Ok(())
}

/// The bits of entropy-coded data, with the stuffed zero after each `FF` data byte removed; a
/// marker ends them. Whole bytes are read ahead into `buffer` (its top `have` bits).
struct Bits<'a> {
    bytes: &'a [u8],
    /// The next byte to read.
    at: usize,
    buffer: u64,
    have: u32,
    /// `at` is on a marker (its first `FF`): no more data.
    at_marker: bool,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8], at: usize) -> Bits<'a> {
        Bits { bytes, at, buffer: 0, have: 0, at_marker: false }
    }

    /// Reads data bytes ahead until the buffer holds at least 57 bits or the data ends.
    fn fill(&mut self) {
        while self.have <= 56 && !self.at_marker {
            let Some(&b) = self.bytes.get(self.at) else { return };
            if b == 0xFF {
                let mut next = self.at + 1;
                while self.bytes.get(next) == Some(&0xFF) {
                    next += 1; // fill bytes before a marker
                }
                match self.bytes.get(next) {
                    Some(0) => self.at = next + 1, // a stuffed FF data byte
                    Some(_) => {
                        self.at_marker = true;
                        return;
                    }
                    None => return,
                }
            } else {
                self.at += 1;
            }
            self.buffer |= u64::from(b) << (56 - self.have);
            self.have += 8;
        }
    }

    /// Why `n` more bits are not there.
    fn short(&self) -> String {
        if self.at_marker { "the data ends before the blocks do" } else { "the file ends inside the data" }.to_string()
    }

    /// The next `n` bits (at most 32).
    fn take(&mut self, n: u32) -> Result<u32, String> {
        if n == 0 {
            return Ok(0);
        }
        if self.have < n {
            self.fill();
            if self.have < n {
                return Err(self.short());
            }
        }
        let v = (self.buffer >> (64 - n)) as u32;
        self.buffer <<= n;
        self.have -= n;
        Ok(v)
    }

    fn skip(&mut self, mut n: u32) -> Result<(), String> {
        while n > 0 {
            let step = n.min(32);
            self.take(step)?;
            n -= step;
        }
        Ok(())
    }

    /// An `s`-bit coefficient value as the JPEG codes it (ones' complement for negatives).
    fn value(&mut self, s: u32) -> Result<i32, String> {
        if s == 0 {
            return Ok(0);
        }
        let v = self.take(s)? as i32;
        Ok(if v < 1 << (s - 1) { v - (1 << s) + 1 } else { v })
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        if self.have < 16 {
            self.fill();
        }
        let (symbol, len) = h.fast[(self.buffer >> (64 - FAST_BITS)) as usize];
        let (symbol, len) = if len > 0 {
            (symbol, u32::from(len))
        } else {
            let mut found = None;
            for len in FAST_BITS + 1..=16 {
                let code = (self.buffer >> (64 - len)) as i32;
                if code <= h.max_code[len as usize] {
                    let i = h.first[len as usize] + (code - h.min_code[len as usize]) as usize;
                    found = Some((*h.symbols.get(i).ok_or("a code past its table")?, len));
                    break;
                }
            }
            found.ok_or("a code that is in no Huffman table")?
        };
        if len > self.have {
            return Err(self.short());
        }
        self.buffer <<= len;
        self.have -= len;
        Ok(symbol)
    }

    /// The end of an interval's data: the rest of the current byte is padding, and a marker
    /// must follow at once (after any fill bytes). Returns the marker's code, with `at` on its
    /// first `FF`.
    fn finish(&mut self) -> Result<u8, String> {
        // Whole bytes read ahead are data the blocks did not use.
        let left_over = self.have >= 8;
        self.buffer = 0;
        self.have = 0;
        let mut i = self.at;
        while self.bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        match self.bytes.get(i) {
            _ if left_over => Err("data left over after the last block".into()),
            None => Err("the file ends inside the data".into()),
            // A data byte, or a stuffed FF: the blocks ended before their data did.
            Some(_) if i == self.at => Err("data left over after the last block".into()),
            Some(0) => Err("data left over after the last block".into()),
            Some(&marker) => {
                self.at = i - 1;
                self.at_marker = false;
                Ok(marker)
            }
        }
    }

    /// A restart marker, which must be RSTn; moves past it.
    fn restart(&mut self, n: usize) -> Result<(), String> {
        let marker = self.finish()?;
        if usize::from(marker) != 0xD0 + n {
            return Err(format!("marker {marker:02X} where RST{n} belongs"));
        }
        self.at += 2;
        Ok(())
    }

    /// The end of the scan: a marker follows. `at` is left on it.
    fn end(&mut self) -> Result<(), String> {
        self.finish().map(|_| ())
    }
}
