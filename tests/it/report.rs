//! `report access PERSON` (GDPR Art. 15) through the CLI, in all three formats: every photo of the
//! person with their face marked, their consents, revocations, uses and audit entries, and nothing
//! about anyone else. The HTML is parsed (by hand: tags, attributes, table rows) and its inline
//! thumbnails decoded to check the marked box.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::Value;

use crate::common::*;

/// The box colours the HTML legend documents (confirmed: magenta, suggested: orange).
const CONFIRMED_RGB: [u8; 3] = [255, 0, 255];
const SUGGESTED_RGB: [u8; 3] = [255, 140, 0];
const EILEEN_NOTE: &str = r#"Signed <b>paper</b> form & "scan", kept in file 7"#;
const OTHER_NAME: &str = "Niels Otherperson";
const OTHER_EMAIL: &str = "niels.other@example.org";
const OTHER_NOTE: &str = "note-only-about-the-other-person";

struct Scenario {
    lib: Lib,
    photos: PathBuf,
    out: PathBuf,
    eileen: i64,
    /// Eileen's faces as `person show` lists them: (face id, photo path, rect).
    eileen_faces: Vec<(i64, String, [f64; 4])>,
}

fn rect(f: &Value) -> [f64; 4] {
    ["x0", "y0", "x1", "y1"].map(|k| f["rect"][k].as_f64().unwrap())
}

/// Copies of the sample photos indexed into a fresh library; Eileen Collins named, one of her two
/// faces confirmed (the other stays a suggestion); a Solvay physicist named and confirmed; both
/// with consents; Eileen's photo exported once.
fn scenario() -> Scenario {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    let out = lib.tmp.path().join("out");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    for name in ["eileen_collins_nasa.png", "eileen_collins_nasa_exif_orientation6.jpg", "solvay_1927_group_a.png", "solvay_1927_group_b.jpg", "grace_hopper.jpg"] {
        copy(&sample_images().join(name), &photos, name);
    }
    lib.index(&[&photos], 0);

    let eileen = person_with_photo(&lib, "eileen_collins_nasa.png");
    lib.json(&["person", "name", &eileen.to_string(), "Eileen Collins", "--email", "ec@example.org"], 0);
    let show = lib.json(&["person", "show", &eileen.to_string()], 0);
    let eileen_faces: Vec<(i64, String, [f64; 4])> = show["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["face_id"].as_i64().unwrap(), f["path"].as_str().unwrap().to_string(), rect(f)))
        .collect();
    assert_eq!(eileen_faces.len(), 2, "{show}");
    let png_face = eileen_faces.iter().find(|f| f.1.ends_with("eileen_collins_nasa.png")).unwrap().0;
    lib.json(&["face", "confirm", &png_face.to_string()], 0);

    let other = person_with_photo(&lib, "solvay_1927_group_a.png");
    lib.json(&["person", "name", &other.to_string(), OTHER_NAME, "--email", OTHER_EMAIL], 0);
    let other_show = lib.json(&["person", "show", &other.to_string()], 0);
    let other_faces: Vec<String> = other_show["faces"].as_array().unwrap().iter().map(|f| f["face_id"].to_string()).collect();
    let mut confirm = vec!["face", "confirm"];
    confirm.extend(other_faces.iter().map(String::as_str));
    lib.json(&confirm, 0);

    for purpose in ["intranet", "print"] {
        lib.json(&["purpose", "add", purpose], 0);
    }
    let e = eileen.to_string();
    lib.json(&["consent", "grant", &e, "--purpose", "intranet", "print", "--no-expiry", "--source", "paper", "--note", EILEEN_NOTE], 0);
    lib.json(&["consent", "grant", &other.to_string(), "--purpose", "intranet", "--no-expiry", "--note", OTHER_NOTE], 0);
    lib.json(&["consent", "revoke", &e, "--purpose", "print", "--note", "changed her mind"], 0);
    // Only the confirmed photo is exported: one use.
    let export = lib.tmp.path().join("export");
    lib.json(&["export", "--person", &e, "--purpose", "intranet", "--to", export.to_str().unwrap()], 0);
    Scenario { lib, photos, out, eileen, eileen_faces }
}

impl Scenario {
    fn report(&self, format: &str, file: &str) -> (Value, PathBuf) {
        let path = self.out.join(file);
        let summary = self.lib.json(&["report", "access", &self.eileen.to_string(), "--format", format, "--out", path.to_str().unwrap()], 0);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
        (summary, path)
    }

    fn path_of(&self, file: &str) -> &str {
        &self.eileen_faces.iter().find(|f| f.1.ends_with(&format!("/{file}"))).unwrap().1
    }
}

/// Nothing of the other named person, and none of their photos, in a report.
fn assert_only_about_eileen(text: &str, what: &str) {
    for other in [OTHER_NAME, OTHER_EMAIL, OTHER_NOTE, "solvay_1927", "grace_hopper"] {
        assert!(!text.contains(other), "the {what} report mentions {other:?}");
    }
}

#[test]
fn the_access_report_holds_every_photo_consent_and_use_of_the_person_and_nothing_of_anyone_else() {
    let s = scenario();
    let e = s.eileen.to_string();
    let png = s.path_of("eileen_collins_nasa.png").to_string();
    let jpg = s.path_of("eileen_collins_nasa_exif_orientation6.jpg").to_string();
    let listed = s.lib.json(&["consent", "list", "--person", &e], 0);
    let consent_ids: Vec<i64> = listed["consents"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(consent_ids.len(), 2);

    // JSON.
    let (summary, path) = s.report("json", "report.json");
    assert_eq!((summary["photos"].as_u64(), summary["consents"].as_u64(), summary["uses"].as_u64()), (Some(2), Some(2), Some(1)), "{summary}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_only_about_eileen(&text, "JSON");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["person"]["id"].as_i64(), Some(s.eileen));
    assert_eq!(doc["person"]["name"], "Eileen Collins");
    assert_eq!(doc["person"]["email"], "ec@example.org");
    let photos = doc["photos"].as_array().unwrap();
    let statuses: Vec<(&str, &str)> = photos.iter().map(|p| (p["path"].as_str().unwrap(), p["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, vec![(png.as_str(), "confirmed"), (jpg.as_str(), "suggested")], "confirmed photos first");
    for p in photos {
        let faces = p["faces"].as_array().unwrap();
        assert_eq!(faces.len(), 1);
        let listed = s.eileen_faces.iter().find(|f| f.1 == p["path"].as_str().unwrap()).unwrap();
        assert_eq!((faces[0]["face_id"].as_i64().unwrap(), rect(&faces[0])), (listed.0, listed.2));
    }
    let ids: Vec<i64> = doc["consents"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, consent_ids);
    for c in doc["consents"].as_array().unwrap() {
        assert_eq!(c["person"].as_i64(), Some(s.eileen));
        assert_eq!(c["note"], EILEEN_NOTE);
    }
    let status: BTreeSet<(&str, &str)> = doc["consents"].as_array().unwrap().iter().map(|c| (c["purpose"].as_str().unwrap(), c["status"].as_str().unwrap())).collect();
    assert!(status.contains(&("intranet", "valid")), "{status:?}");
    assert!(status.iter().any(|(p, st)| *p == "print" && st.contains("revoked")), "{status:?}");
    assert_eq!(doc["revocations"].as_array().unwrap().len(), 1);
    assert_eq!(doc["revocations"][0]["note"], "changed her mind");
    let uses = doc["uses"].as_array().unwrap();
    assert_eq!(uses.len(), 1);
    assert_eq!((uses[0]["path"].as_str(), uses[0]["purpose"].as_str()), (Some(png.as_str()), Some("intranet")));
    let audit = doc["audit"].as_array().unwrap();
    assert!(audit.iter().any(|a| a["command"] == "consent grant"), "{audit:?}");
    for a in audit {
        assert!(a["subjects"].as_array().unwrap().iter().any(|x| *x == format!("person:{e}")), "{a}");
    }

    // CSV.
    let (_, path) = s.report("csv", "report.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_only_about_eileen(&text, "CSV");
    let records = parse_csv(&text);
    let header = &records[0];
    assert_eq!(header[0], "section");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {header:?}"));
    for r in &records {
        assert_eq!(r.len(), header.len(), "{r:?}");
    }
    let section = |name: &str| records[1..].iter().filter(|r| r[0] == name).collect::<Vec<_>>();
    let person = section("person");
    assert_eq!(person.len(), 1);
    assert_eq!((person[0][col("id")].as_str(), person[0][col("name")].as_str()), (e.as_str(), "Eileen Collins"));
    let csv_photos: Vec<(&str, &str)> = section("photo").iter().map(|r| (r[col("path")].as_str(), r[col("status")].as_str())).collect();
    assert_eq!(csv_photos, vec![(png.as_str(), "confirmed"), (jpg.as_str(), "suggested, not confirmed")]);
    let csv_consents: Vec<(i64, &str)> = section("consent").iter().map(|r| (r[col("id")].parse().unwrap(), r[col("note")].as_str())).collect();
    assert_eq!(csv_consents, consent_ids.iter().map(|i| (*i, EILEEN_NOTE)).collect::<Vec<_>>(), "quoting round-trips");
    assert_eq!(section("revocation").len(), 1);
    assert_eq!(section("use").len(), 1);
    assert_eq!(section("audit").len(), audit.len() + 1, "the JSON report's own audit entry came since");
    for r in &records[1..] {
        assert!(["person", "information", "photo", "consent", "revocation", "use", "audit"].contains(&r[0].as_str()), "{r:?}");
    }

    // HTML.
    let (summary, path) = s.report("html", "report.html");
    assert_eq!(summary["photos"].as_u64(), Some(2));
    let html = std::fs::read_to_string(&path).unwrap();
    assert_only_about_eileen(&html, "HTML");
    assert_self_contained(&html);
    // The note's markup is text: escaped in the file, whole in the cell.
    assert!(!html.contains("<b>paper</b>") && !html.contains("\"scan\""));
    let note = header_col(&html, "consents", "Note");
    for row in table_rows(&html, "consents") {
        assert_eq!(row.cells[note], EILEEN_NOTE, "{row:?}");
    }
    let rows = table_rows(&html, "photos");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, (file, status, colour)) in rows.iter().zip([(&png, "confirmed", CONFIRMED_RGB), (&jpg, "suggested, not confirmed", SUGGESTED_RGB)]) {
        assert!(row.cells.iter().any(|c| c == file), "{row:?}");
        assert!(row.cells.iter().any(|c| c == status), "{row:?}");
        let src = row.imgs.first().unwrap_or_else(|| panic!("no thumbnail: {row:?}"));
        let thumb = decode_data_uri(src);
        // The thumbnail is the upright photo scaled to 320 px on its long side.
        let upright = facegate::photo::decode(&std::fs::read(file).unwrap(), &Default::default()).unwrap().rgb;
        let scale = 320.0 / upright.width().max(upright.height()) as f64;
        let expect = ((upright.width() as f64 * scale).round() as u32, (upright.height() as f64 * scale).round() as u32);
        assert_eq!(thumb.dimensions(), expect);
        // It shows the photo upright (EXIF orientation applied), like the frame the boxes are in.
        let upright_small = image::imageops::thumbnail(&upright, expect.0, expect.1);
        let rotated_small = image::imageops::rotate90(&upright_small);
        let (same, rotated) = (mean_abs_diff(&thumb, &upright_small), mean_abs_diff(&thumb, &rotated_small));
        assert!(same < 8.0 && rotated > 3.0 * same, "{file}: differs from the upright photo by {same:.1}, from it turned by {rotated:.1}");
        let r = s.eileen_faces.iter().find(|f| &f.1 == file).unwrap().2.map(|v| v * scale);
        let (cx, cy) = (((r[0] + r[2]) / 2.0) as u32, ((r[1] + r[3]) / 2.0) as u32);
        for (x, y, edge) in [(cx, r[1].round() as u32 + 1, "top"), (cx, r[3].round() as u32 - 1, "bottom"), (r[0].round() as u32 + 1, cy, "left"), (r[2].round() as u32 - 1, cy, "right")] {
            let px = thumb.get_pixel(x, y).0;
            assert!(near(px, colour), "{file}: {edge} edge of the box at ({x}, {y}) is {px:?}, not {colour:?}");
        }
        assert!(!near(thumb.get_pixel(cx, cy).0, colour), "the face itself is not painted over");
    }
    assert_eq!(table_rows(&html, "consents").len(), 2);
    assert_eq!(table_rows(&html, "revocations").len(), 1);
    let uses = table_rows(&html, "uses");
    assert_eq!(uses.len(), 1);
    assert!(uses[0].cells.contains(&png), "{uses:?}");
    assert!(!table_rows(&html, "audit").is_empty());

    // A photo file gone from disk is reported as such; the report is still written.
    std::fs::remove_file(&jpg).unwrap();
    let (summary, path) = s.report("html", "after-removal.html");
    assert_eq!(summary["photos"].as_u64(), Some(2));
    let html = std::fs::read_to_string(&path).unwrap();
    let rows = table_rows(&html, "photos");
    let gone = rows.iter().find(|r| r.cells.contains(&jpg)).unwrap();
    assert!(gone.imgs.is_empty() && gone.cells.iter().any(|c| c.contains("can no longer be read")), "{gone:?}");
    assert_eq!(rows.iter().find(|r| r.cells.contains(&png)).unwrap().imgs.len(), 1);
    assert!(s.photos.join("eileen_collins_nasa.png").is_file());
}

#[test]
fn a_report_for_an_unknown_person_fails_and_writes_nothing() {
    let lib = Lib::new();
    let photos = lib.tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    copy(&sample_images().join("grace_hopper.jpg"), &photos, "grace_hopper.jpg");
    lib.index(&[&photos], 0);
    let out = lib.tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for format in ["html", "json", "csv"] {
        let file = out.join(format!("report.{format}"));
        let run = lib.run(&["report", "access", "999999", "--format", format, "--out", file.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
        assert!(stderr(&run).contains("999999"), "{}", stderr(&run));
        assert!(!file.exists());
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no temporary file is left behind");
}

// ---------------------------------------------------------------------------------------------
// Parsing helpers.

/// Mean absolute difference per channel of two images of one size.
fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f64 / a.as_raw().len() as f64
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 60)
}

/// Every record of a CSV report, the header first, read by the `csv` crate (which also checks
/// that every record has the header's number of fields).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\r'), "records end with CR LF");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.expect("a valid CSV record").iter().map(str::to_string).collect()).collect()
}

/// A start tag: its name and attributes (values unescaped).
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

/// Every start tag in `html`, in order (comments skipped).
fn tags(html: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix("!--") {
            rest = &after[after.find("-->").expect("closed comment") + 3..];
            continue;
        }
        if rest.starts_with('/') || rest.starts_with('!') {
            continue;
        }
        let (tag, len) = parse_tag(rest);
        rest = &rest[len..];
        out.push(tag);
    }
    out
}

/// Parses `name attr="v" attr2='v' attr3=v flag>`; returns the tag and the length consumed.
fn parse_tag(s: &str) -> (Tag, usize) {
    let b = s.as_bytes();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && !b[*i].is_ascii_whitespace() && !b"=>/".contains(&b[*i]) {
            *i += 1;
        }
        s[start..*i].to_ascii_lowercase()
    };
    let name = word(&mut i);
    let mut attrs = Vec::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        assert!(i < b.len(), "unterminated <{name}");
        if b[i] == b'>' {
            return (Tag { name, attrs }, i + 1);
        }
        let key = word(&mut i);
        let mut value = String::new();
        if b[i] == b'=' {
            i += 1;
            if b[i] == b'"' || b[i] == b'\'' {
                let q = b[i];
                let end = i + 1 + b[i + 1..].iter().position(|&c| c == q).expect("closed attribute quote");
                value = s[i + 1..end].to_string();
                i = end + 1;
            } else {
                let start = i;
                while !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = s[start..i].to_string();
            }
        }
        attrs.push((key, unescape(&value)));
    }
}

/// Replaces character references: the named ones an escaper writes and numeric ones (`&#60;`,
/// `&#x3c;`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').unwrap_or_else(|| panic!("unterminated character reference: {rest}"));
        let name = &rest[1..end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "amp" => '&',
            _ => {
                let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => name.strip_prefix('#').unwrap_or_else(|| panic!("unknown reference &{name};")).parse(),
                };
                char::from_u32(code.unwrap_or_else(|e| panic!("&{name};: {e}"))).expect("a character")
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Text with the tags removed, unescaped, trimmed.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(out.trim())
}

/// The position of the column headed `name` in `<table id="ID">`.
fn header_col(html: &str, id: &str, name: &str) -> usize {
    let start = html.find(&format!("<table id=\"{id}\">")).expect("the table");
    let head = &html[start..start + html[start..].find("</thead>").expect("a thead")];
    head.split("<th>").skip(1).position(|th| text_of(&th[..th.find("</th>").expect("closed th")]) == name).unwrap_or_else(|| panic!("no column {name}"))
}

#[derive(Debug)]
struct Row {
    cells: Vec<String>,
    /// The `src` of every `<img>` in the row.
    imgs: Vec<String>,
}

/// The body rows of `<table id="ID">`: each cell's text and the row's image sources.
fn table_rows(html: &str, id: &str) -> Vec<Row> {
    let open = format!("<table id=\"{id}\">");
    let Some(start) = html.find(&open) else { return vec![] };
    let table = &html[start..start + html[start..].find("</table>").expect("closed table")];
    let body = &table[table.find("<tbody>").expect("tbody")..];
    body.split("<tr")
        .skip(1)
        .map(|tr| {
            let tr = &tr[..tr.find("</tr>").expect("closed row")];
            let cells = tr
                .split("<td")
                .skip(1)
                .map(|td| {
                    let inner = &td[td.find('>').unwrap() + 1..];
                    text_of(&inner[..inner.find("</td>").expect("closed cell")])
                })
                .collect();
            let imgs = tags(tr)
                .into_iter()
                .filter(|t| t.name == "img")
                .map(|t| t.attrs.into_iter().find(|(k, _)| k == "src").expect("img with src").1)
                .collect();
            Row { cells, imgs }
        })
        .collect()
}

/// No network reference anywhere: no http(s) URL, no script, stylesheet or frame, and every
/// attribute that can load something points at a `data:` URI.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in ["http://", "https://", "//:", "<script", "<link", "<iframe", "<object", "<embed", "@import", "url(", "file:"] {
        assert!(!lower.contains(bad), "the HTML holds {bad:?}");
    }
    let mut images = 0;
    for tag in tags(html) {
        for (k, v) in &tag.attrs {
            if ["src", "href", "srcset", "action", "poster", "background", "data"].contains(&k.as_str()) {
                assert!(v.starts_with("data:"), "<{} {k}=\"{}\"> points outside the file", tag.name, &v[..v.len().min(80)]);
                images += 1;
            }
        }
    }
    assert!(images > 0);
    // The raw text too: every src=" in the file starts a data: URI.
    for (i, _) in lower.match_indices("src=") {
        assert!(lower[i + 4..].trim_start_matches(['"', '\'']).starts_with("data:"), "{}", &html[i..(i + 60).min(html.len())]);
    }
}

/// Decodes `data:image/...;base64,...` into an RGB image.
fn decode_data_uri(uri: &str) -> image::RgbImage {
    let (head, data) = uri.split_once(',').expect("data URI with a comma");
    assert!(head.starts_with("data:image/") && head.ends_with(";base64"), "{head}");
    image::load_from_memory(&base64::engine::general_purpose::STANDARD.decode(data).expect("base64")).expect("the thumbnail decodes").to_rgb8()
}

/// Issue 10 C3: in a group photo, every face that is not the subject's is covered in the
/// thumbnail (Art. 15(4)), and the report carries the Art. 15(1) information: the controller as
/// configured, the purposes, the recipients from the usage log, the storage period, the source
/// and the rights.
#[test]
fn the_access_report_covers_other_faces_and_gives_the_article_15_information() {
    let s = scenario();
    let other = person_with_photo(&s.lib, "solvay_1927_group_a.png");
    let path = s.out.join("other.html");
    s.lib.json(&["report", "access", &other.to_string(), "--out", path.to_str().unwrap()], 0);
    let html = std::fs::read_to_string(&path).unwrap();
    let rows = table_rows(&html, "photos");
    let row = rows.iter().find(|r| r.cells.iter().any(|c| c.ends_with("solvay_1927_group_a.png"))).expect("the group photo");
    let thumb = decode_data_uri(&row.imgs[0]);
    let conn = rusqlite::Connection::open(s.lib.db()).unwrap();
    let faces: Vec<(Option<i64>, [f64; 4])> = conn
        .prepare("SELECT f.person_id, f.x0, f.y0, f.x1, f.y1 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.path LIKE '%solvay_1927_group_a.png'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(faces.len() > 10, "{} faces", faces.len());
    let scale = 320.0 / 1280.0;
    let centre = |r: &[f64; 4]| thumb.get_pixel(((r[0] + r[2]) / 2.0 * scale) as u32, ((r[1] + r[3]) / 2.0 * scale) as u32).0;
    // A black-and-white photo has no blue cast: the cover colour can only come from the cover.
    let covered = |px: [u8; 3]| px[2] as i32 - px[0] as i32 > 25;
    let mut others = 0;
    for (person, r) in &faces {
        if *person == Some(other) {
            assert!(!covered(centre(r)), "the subject's own face is not covered");
        } else {
            others += 1;
            assert!(covered(centre(r)), "another person's face at {r:?} shows: {:?}", centre(r));
        }
    }
    assert!(others > 10);
    assert!(html.contains("Art. 15(4)"));

    // Art. 15(1), on Eileen's report (her photo was exported once).
    let (_, path) = s.report("json", "eileen.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let info = &doc["information"];
    assert!(info["controller"].as_str().unwrap().contains("not set"), "{info}");
    let recipients = info["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 1, "{info}");
    assert!(recipients[0].as_str().unwrap().ends_with("export"), "{info}");
    assert!(info["purposes"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().starts_with("intranet")), "{info}");
    let rights = info["rights"].to_string();
    for right in ["Art. 16", "Art. 17", "complaint"] {
        assert!(rights.contains(right), "{right}: {rights}");
    }
    assert!(info["storage_period"].is_string() && info["source"].is_string());
    let path = s.out.join("eileen-configured.html");
    let controller = "Acme Photo Archive Ltd, 1 Example Road; dpo@acme.example";
    s.lib.json(&["report", "access", &s.eileen.to_string(), "--out", path.to_str().unwrap(), "--controller", controller, "--storage-period", "ten years"], 0);
    let html = std::fs::read_to_string(&path).unwrap();
    let info = table_rows(&html, "information");
    assert!(info.iter().any(|r| r.cells.iter().any(|c| c.contains("Acme Photo Archive Ltd"))), "{info:?}");
    assert!(info.iter().any(|r| r.cells.iter().any(|c| c == "ten years")), "{info:?}");
}

/// Issue 10 C3: in a real browser at a 1280 × 900 viewport, nothing in the report runs past the
/// right edge (the consent table used to), no table cell's content spills out of its cell, every
/// thumbnail decodes, and the console stays free of errors (the page's Content-Security-Policy
/// would log a blocked load there). The consent gets the long unbroken values real records hold:
/// an evidence file's name and sha256, a project name, a note with a reference number.
#[tokio::test]
async fn the_access_report_fits_a_1280_px_window_in_a_real_browser() {
    let Some(browser) = crate::browser::Browser::start(1280, 900).await else { return };
    let s = scenario();
    let e = s.eileen.to_string();
    let project = "summer-festival-2026-press-photography-and-social-media-campaign";
    s.lib.json(&["project", "add", project, "--until", "2026-12-31"], 0);
    let evidence = s.lib.tmp.path().join("signed-consent-form-eileen-collins-reception-desk-scan-2026-01-10.pdf");
    std::fs::write(&evidence, b"%PDF-1.4 a signed form").unwrap();
    let note = format!("Reference {}; {}", "FORM-2026-0000000000000000000000000000000000000000000000000000000000000001", EILEEN_NOTE);
    let evidence_arg = evidence.to_str().unwrap();
    let grant = ["consent", "grant", &e, "--purpose", "intranet", "--project", project, "--until", "2026-12-31", "--source", "paper", "--evidence", evidence_arg, "--note", &note];
    s.lib.json(&grant, 0);
    let (_, path) = s.report("html", "report.html");
    assert_eq!(table_rows(&std::fs::read_to_string(&path).unwrap(), "consents").len(), 3);

    browser.open_file(&path).await;
    assert!(browser.client.title().await.unwrap().starts_with("Access report"));
    let layout = browser
        .js(
            "const vw = window.innerWidth;
             const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '');
             const past = [...document.querySelectorAll('body *')]
                 .filter(el => el.getBoundingClientRect().right > vw)
                 .map(el => name(el) + ' ends at ' + el.getBoundingClientRect().right);
             const spilling = [...document.querySelectorAll('td, th')]
                 .filter(el => el.scrollWidth > el.clientWidth)
                 .map(el => name(el) + ' holds ' + el.scrollWidth + ' px in ' + el.clientWidth + ': ' + el.textContent.slice(0, 60));
             const images = [...document.images];
             return {
                 viewport: vw,
                 scroll_width: document.documentElement.scrollWidth,
                 consents_right: document.getElementById('consents').getBoundingClientRect().right,
                 past, spilling,
                 images: images.length,
                 decoded: images.filter(i => i.complete && i.naturalWidth > 0).length,
             };",
        )
        .await;
    // The consent table in view, for a person to look at (target/tmp/browser/).
    browser.js("document.getElementById('consents-heading').scrollIntoView(); return null").await;
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser/access-report-consents-1280.png");
    browser.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());
    let width = |k: &str| layout[k].as_f64().unwrap_or_else(|| panic!("{k}: {layout}"));
    assert_eq!(width("viewport"), 1280.0);
    assert!(width("scroll_width") <= 1280.0, "the page scrolls sideways: {layout:#}");
    assert!(width("consents_right") <= 1280.0, "the consent table runs past the window: {layout:#}");
    assert_eq!(layout["past"].as_array().unwrap().len(), 0, "elements past the right edge: {layout:#}");
    assert_eq!(layout["spilling"].as_array().unwrap().len(), 0, "cells whose content spills out: {layout:#}");
    assert_eq!((layout["images"].as_u64(), layout["decoded"].as_u64()), (Some(2), Some(2)), "{layout}");
    let console: Vec<String> = browser.console().await.into_iter().map(|c| format!("{}: {}", c.level, c.message)).collect();
    assert!(console.iter().all(|c| !c.starts_with("SEVERE") && !c.starts_with("WARNING")), "the console: {console:#?}");
    browser.close().await;
}
