//! The command line, as clap sees it. Nothing here runs anything.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::query::Method;
use crate::vision::Device;

#[derive(Parser, Debug)]
#[command(name = "facegate", version, about = "Find every photo of a person in a photo archive; gate photo use on consent")]
pub struct Cli {
    /// Library folder (database and index). Default: $FACEGATE_LIBRARY, else
    /// $XDG_DATA_HOME/facegate, else ~/.local/share/facegate.
    #[arg(long, global = true, value_name = "DIR")]
    pub library: Option<PathBuf>,

    /// Folder with models.toml and the model files. Default: models/ of the checkout the binary
    /// was built in, or ../share/facegate/models beside the binary.
    #[arg(long, global = true, value_name = "DIR", env = "FACEGATE_MODELS")]
    pub models: Option<PathBuf>,

    /// Where the models run. cuda needs the onnxruntime-gpu build (scripts/setup.sh --gpu) and a GPU.
    #[arg(long, global = true, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,

    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Who is acting, for the audit trail and consent records. Default: the OS user.
    #[arg(long, global = true, env = "FACEGATE_ACTOR")]
    pub actor: Option<String>,

    /// Take this date as today (ISO 8601), for reproducible runs and tests.
    #[arg(long, global = true, env = "FACEGATE_NOW", value_name = "DATE", value_parser = parse_date)]
    pub now: Option<NaiveDate>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Index the photos under one or more folders (incremental: unchanged files are skipped,
    /// deleted ones are dropped from the library).
    Index(IndexArgs),
    /// Find every indexed photo of the person in a query photo.
    Search(SearchArgs),
    /// Show what the library holds.
    Status,
    /// Place faces into persons: the faces added since the last run, or with --all every face
    /// linked to nobody, or with --recluster everything again (human decisions always stay).
    Cluster(ClusterArgs),
    /// Persons: list, show, name, add, merge, split, and every photo of one. Wherever a person
    /// is taken, an id, a name or an email will do.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Faces: move, confirm, reject, list the unassigned.
    #[command(subcommand)]
    Face(FaceCommand),
    /// Purposes photos may be used for (social media, print, intranet …).
    #[command(subcommand)]
    Purpose(PurposeCommand),
    /// Projects a consent or a use may be scoped to.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Consent records: grant, revoke, list, expiring, request.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// May these photos be used for a purpose? Exit 0: all allowed; 1: some blocked; 2: errors.
    Check(CheckArgs),
    /// Copy the photos allowed for a purpose to a folder, with a manifest of what was withheld and why.
    Export(ExportArgs),
    /// Which photo was used for which purpose, when, where and by whom.
    Usage {
        /// A person id, name or email.
        #[arg(long)]
        person: Option<String>,
        #[arg(long, conflicts_with = "person")]
        photo: Option<PathBuf>,
    },
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Reports for data subjects.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Erase a person (GDPR Art. 17): photos, faces, embeddings, details, consents, evidence,
    /// in one step, with a certificate. Asks for confirmation on a terminal unless --yes.
    Erase(EraseArgs),
    /// The organisation asking for consent, as messages and the public consent page name it,
    /// and the address people reach the server at (for the links). Shows them; sets what is
    /// given (admin).
    Organisation {
        #[arg(long)]
        name: Option<String>,
        /// Who to contact about personal data (the DPO's address, say).
        #[arg(long)]
        contact: Option<String>,
        /// The server's address as people open it, e.g. https://photos.example.org.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
    /// Users of the web app and the API: add, list, passwd, disable.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens (`Authorization: Bearer TOKEN`): create, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Serve the web app and the HTTP API (`/api/v1`) over this library.
    Serve(ServeArgs),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user. The password is read from standard input (one line) when it is not a
    /// terminal, else asked for twice without echo; at least 10 characters.
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: crate::app::Role,
    },
    /// Every user with role, state and failed sign-ins.
    List,
    /// Set a user's password (read as for `user add`); ends their sessions and lifts a lock-out.
    Passwd { name: String },
    /// Disable a user: they cannot sign in, their sessions end and their tokens stop working.
    Disable { name: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token acting as a user; it is printed once and only its hash is kept.
    Create {
        #[arg(long)]
        user: String,
        /// What the token is for (e.g. the system that uses it).
        #[arg(long)]
        label: Option<String>,
    },
    /// Every token (never the secret), with its user and last use.
    List,
    /// Revoke a token by its id.
    Revoke { id: i64 },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on. Default: localhost only.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Send consent requests through this SMTP server (smtps://user:password@host, or
    /// smtp://host:port for a relay that takes mail in the clear). Without it the app offers
    /// the messages as .eml files. An environment variable, so that the password stays out of
    /// the process list.
    #[arg(long, env = "FACEGATE_SMTP_URL", hide_env_values = true, value_name = "URL")]
    pub smtp_url: Option<String>,
    /// The sender of consent requests.
    #[arg(long = "mail-from", env = "FACEGATE_MAIL_FROM", default_value = "privacy@localhost")]
    pub mail_from: String,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("files").required(true).args(["delete_files", "quarantine", "keep_files", "resume"])))]
pub struct EraseArgs {
    /// A person id, name or email.
    #[arg(required_unless_present = "resume")]
    pub person: Option<String>,
    /// Why (kept in the erasure record and the certificate; do not put personal data here).
    #[arg(long, required_unless_present = "resume")]
    pub reason: Option<String>,
    /// Finish the erasures a crash interrupted (any write command does it too), and nothing else.
    #[arg(long, conflicts_with_all = ["person", "reason", "dry_run"])]
    pub resume: bool,
    /// Show what would be erased (photos, faces, recorded uses of the photos) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete the photo files that show only this person.
    #[arg(long)]
    pub delete_files: bool,
    /// Move the photo files that show only this person into DIR.
    #[arg(long, value_name = "DIR")]
    pub quarantine: Option<PathBuf>,
    /// Keep every file, blocked for every purpose.
    #[arg(long)]
    pub keep_files: bool,
    /// Treat unreviewed suggestions as the person's (otherwise their presence stops the erasure).
    #[arg(long)]
    pub include_suggestions: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Where to write the certificate (default: certificates/ in the library).
    #[arg(long, value_name = "DIR")]
    pub certificate_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Everything held about a person (GDPR Art. 15): details, every photo with the face marked,
    /// consents and their history, uses, audit events.
    Access {
        /// A person id, name or email.
        person: String,
        #[arg(long, value_enum, default_value_t = crate::gdpr::report::Format::Html)]
        format: crate::gdpr::report::Format,
        #[arg(long)]
        out: PathBuf,
        /// The controller, as the report names it (Art. 15(1)): organisation, address, contact
        /// of the data protection officer.
        #[arg(long, env = "FACEGATE_CONTROLLER")]
        controller: Option<String>,
        /// How long the data is kept, as the report says it (default: a sentence on the archive).
        #[arg(long, env = "FACEGATE_STORAGE_PERIOD")]
        storage_period: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PurposeCommand {
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    List,
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    Add {
        name: String,
        /// Last day of the project; consents scoped to it end then.
        #[arg(long, value_parser = parse_date)]
        until: Option<NaiveDate>,
    },
    List,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Source {
    Paper,
    Email,
    Web,
    Other,
}

#[derive(Subcommand, Debug)]
pub enum ConsentCommand {
    /// Record a consent (one record per purpose). Records are never changed afterwards.
    Grant {
        /// A person id, name or email.
        person: String,
        #[arg(long = "purpose", required = true, num_args = 1..)]
        purposes: Vec<String>,
        /// First valid day (default: today).
        #[arg(long, value_parser = parse_date)]
        from: Option<NaiveDate>,
        /// Last valid day.
        #[arg(long, required_unless_present = "no_expiry", conflicts_with = "no_expiry", value_parser = parse_date)]
        until: Option<NaiveDate>,
        #[arg(long)]
        no_expiry: bool,
        #[arg(long)]
        project: Option<String>,
        /// The signed form: copied into the library's evidence store, named by its sha256.
        #[arg(long)]
        evidence: Option<PathBuf>,
        #[arg(long, value_enum)]
        source: Option<Source>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Record a revocation of some purposes (default: all) from a date on (default: today).
    Revoke {
        /// A person id, name or email.
        person: String,
        #[arg(long = "purpose", num_args = 1..)]
        purposes: Vec<String>,
        #[arg(long, value_parser = parse_date)]
        date: Option<NaiveDate>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Consent records and revocations, with each record's status today.
    List {
        /// A person id, name or email.
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        purpose: Option<String>,
    },
    /// Consents that expire soon, with the photos that will become blocked. Exit 3 when any.
    Expiring {
        /// Window, in days ("30d" or "30").
        #[arg(long, default_value = "30d", value_parser = parse_days)]
        within: i64,
    },
    /// Ask the person for consent by link: a request whose single-use answer link (and
    /// withdrawal link) the message carries, written as an RFC 5322 message (not sent). The
    /// person answers on the server's public page (`facegate serve`).
    Request {
        /// A person id, name or email.
        person: String,
        #[arg(long = "purpose", required = true, num_args = 1..)]
        purposes: Vec<String>,
        #[arg(long)]
        out: PathBuf,
        /// The longest period offered, in months from today (the person may choose less).
        #[arg(long, default_value_t = 12)]
        months: u32,
        /// Scope the consent to a project.
        #[arg(long)]
        project: Option<String>,
        /// The language of the message and the page: en, nl or de.
        #[arg(long, default_value = "en")]
        language: String,
        /// How many days the answer link works.
        #[arg(long, default_value_t = 30)]
        link_days: u32,
        /// Where the links point (default: the `organisation --public-url` setting).
        #[arg(long, value_name = "URL")]
        link_base: Option<String>,
        /// Sender address.
        #[arg(long = "from", env = "FACEGATE_MAIL_FROM", default_value = "privacy@localhost")]
        sender: String,
        /// The organisation asking, as the message and the page name it (default: the
        /// `organisation --name` setting).
        #[arg(long, env = "FACEGATE_ORGANISATION")]
        organisation: Option<String>,
    },
}

/// A day as YYYY-MM-DD; other spellings (01/12/2026) are refused with the format to use.
fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date: dates are YYYY-MM-DD, e.g. 2026-12-01"))
}

fn parse_days(s: &str) -> Result<i64, String> {
    s.trim_end_matches('d').parse::<i64>().ok().filter(|d| *d >= 0).ok_or_else(|| format!("{s:?} is not a number of days like 30d"))
}

#[derive(Args, Debug)]
pub struct UseArgs {
    #[arg(long)]
    pub purpose: String,
    #[arg(long)]
    pub project: Option<String>,
    /// Decide as of this day (default: today).
    #[arg(long, value_parser = parse_date)]
    pub on: Option<NaiveDate>,
    /// Do not count faces smaller than this many pixels (default: every detected face counts).
    #[arg(long, default_value_t = 0.0)]
    pub min_face_px: f32,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    #[arg(required = true)]
    pub photos: Vec<PathBuf>,
    #[command(flatten)]
    pub using: UseArgs,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub using: UseArgs,
    /// Destination folder.
    #[arg(long)]
    pub to: PathBuf,
    /// Export this person's photos (those with a confirmed face of them).
    #[arg(long, required_unless_present = "from")]
    pub person: Option<String>,
    /// Export the library's photos under these folders or files.
    #[arg(long, num_args = 1.., conflicts_with = "person")]
    pub from: Vec<PathBuf>,
    /// Hard-link instead of copying.
    #[arg(long)]
    pub link: bool,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Entries, oldest first.
    Log {
        /// A person id, name or email.
        #[arg(long)]
        person: Option<String>,
        /// Only entries at or after this time (ISO 8601).
        #[arg(long)]
        since: Option<String>,
    },
    /// Check the hash chain; names the first entry that does not fit. Exit 1 when broken.
    Verify,
}

#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// Consider every face linked to nobody, not only the new ones, and re-check suggestions
    /// against the auto-confirm rule.
    #[arg(long)]
    pub all: bool,
    /// Drop every link the machine made and cluster from scratch.
    #[arg(long, conflicts_with = "all")]
    pub recluster: bool,
}

#[derive(Subcommand, Debug)]
pub enum PersonCommand {
    /// Every person with face and photo counts.
    List,
    /// A person's details and faces.
    Show { id: String },
    /// Name a person (and set an email).
    Name {
        id: String,
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Add a person known before any photo shows them.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        /// Not a member of the organisation (a visitor, an external model).
        #[arg(long)]
        external: bool,
    },
    /// Move every face of B into A and delete B.
    Merge { a: String, b: String },
    /// Confirm every suggestion `person photos ID` lists (and every suggested link) as the person's.
    Confirm { id: String },
    /// Move some faces of a person into a new person.
    Split {
        id: String,
        #[arg(long, required = true, num_args = 1..)]
        faces: Vec<i64>,
    },
    /// Every photo of a person: confirmed ones and suggestions, each with similarity and box.
    Photos {
        id: String,
        /// Count suggestions as the person's photos too (the `photos` list in JSON).
        #[arg(long)]
        include_suggestions: bool,
        /// Minimum cosine similarity for search matches (default: models.toml match_threshold).
        #[arg(long)]
        threshold: Option<f32>,
        /// exact (complete; the default) or index (approximate).
        #[arg(long, value_enum, default_value_t = Method::Exact)]
        method: Method,
    },
}

#[derive(Subcommand, Debug)]
pub enum FaceCommand {
    /// Link a face to a person (confirmed); it is never put back to its old person.
    Move {
        face: i64,
        /// A person id, name or email.
        #[arg(long)]
        to: String,
    },
    /// Confirm faces' current links.
    Confirm {
        #[arg(required = true)]
        faces: Vec<i64>,
    },
    /// Say faces are not their current person, or not --person (a suggestion of `person photos`,
    /// whatever the face's link).
    Reject {
        #[arg(required = true)]
        faces: Vec<i64>,
        /// The person the faces are not (default: each face's current person).
        #[arg(long)]
        person: Option<String>,
    },
    /// Say detections are not faces: they are deleted and their regions stay empty when the
    /// photo is indexed again.
    Dismiss {
        #[arg(required = true)]
        faces: Vec<i64>,
    },
    /// Add a face the detector missed, drawn as a box in photo pixels (as `person show` prints
    /// boxes); it is embedded, counts in the gate and is kept when the photo is indexed again.
    Add {
        /// An indexed photo.
        photo: PathBuf,
        /// The face's box: X0,Y0,X1,Y1 (pixels of the upright photo).
        #[arg(long = "box", value_name = "X0,Y0,X1,Y1", value_parser = parse_box)]
        rect: crate::vision::Rect,
    },
    /// List faces.
    List {
        /// Only faces linked to nobody.
        #[arg(long, required = true)]
        unassigned: bool,
    },
}

#[derive(Args, Debug)]
pub struct IndexArgs {
    /// Folders or files to index.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Worker threads (default: number of CPU cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,

    /// Photos committed per transaction.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,

    /// Do not place new faces into persons at the end (run `facegate cluster` later).
    #[arg(long)]
    pub no_cluster: bool,

    /// Largest photo decoded, in megapixels (width × height); larger files are recorded as
    /// failures without being decoded. Kept as the library's setting for later runs and commands.
    /// Default: the library's setting, else 120.
    #[arg(long, value_name = "MP", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_megapixels: Option<u64>,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Photo showing the person.
    #[arg(long, value_name = "FILE")]
    pub photo: PathBuf,

    /// Which face of the query photo, counting from 1 by size (default: the largest).
    #[arg(long, value_name = "N")]
    pub face: Option<usize>,

    /// Cosine similarity at or above which a face counts as the person (default: the embedder's
    /// calibrated threshold from models.toml).
    #[arg(long)]
    pub threshold: Option<f32>,

    /// exact: compare with every stored face (complete; the default); index: the HNSW index
    /// (faster on very large libraries, but it can miss faces of people with many photos).
    #[arg(long, value_enum, default_value_t = Method::Exact)]
    pub method: Method,

    /// Link the query face to this person (confirmed). A query photo not yet in the library is
    /// indexed first.
    #[arg(long, value_name = "PERSON")]
    pub assign: Option<String>,
}

/// `X0,Y0,X1,Y1` in pixels.
fn parse_box(s: &str) -> Result<crate::vision::Rect, String> {
    let v: Vec<f32> = s
        .split(',')
        .map(|p| p.trim().parse::<f32>().map_err(|_| format!("{p:?} is not a number")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [x0, y0, x1, y1] if x0 < x1 && y0 < y1 => Ok(crate::vision::Rect { x0, y0, x1, y1 }),
        [_, _, _, _] => Err("the box needs X0 < X1 and Y0 < Y1".into()),
        _ => Err("a box is four numbers: X0,Y0,X1,Y1".into()),
    }
}
