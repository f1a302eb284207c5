//! The command line, as clap sees it. Nothing here runs anything.

use std::path::PathBuf;

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
    /// Persons: list, show, name, add, merge, split, and every photo of one.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Faces: move, confirm, reject, list the unassigned.
    #[command(subcommand)]
    Face(FaceCommand),
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
    Show { id: i64 },
    /// Name a person (and set an email).
    Name {
        id: i64,
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
    Merge { a: i64, b: i64 },
    /// Move some faces of a person into a new person.
    Split {
        id: i64,
        #[arg(long, required = true, num_args = 1..)]
        faces: Vec<i64>,
    },
    /// Every photo of a person: confirmed ones and suggestions, each with similarity and box.
    Photos {
        id: i64,
        /// Count suggestions as the person's photos too (the `photos` list in JSON).
        #[arg(long)]
        include_suggestions: bool,
        /// Minimum cosine similarity for search matches (default: models.toml match_threshold).
        #[arg(long)]
        threshold: Option<f32>,
        #[arg(long, value_enum, default_value_t = Method::Index)]
        method: Method,
    },
}

#[derive(Subcommand, Debug)]
pub enum FaceCommand {
    /// Link a face to a person (confirmed); it is never put back to its old person.
    Move {
        face: i64,
        #[arg(long)]
        to: i64,
    },
    /// Confirm faces' current links.
    Confirm {
        #[arg(required = true)]
        faces: Vec<i64>,
    },
    /// Say faces are not their current person.
    Reject {
        #[arg(required = true)]
        faces: Vec<i64>,
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

    /// index: the HNSW index (fast, approximate); exact: compare with every stored face.
    #[arg(long, value_enum, default_value_t = Method::Index)]
    pub method: Method,

    /// Link the query face to this person (confirmed). A query photo not yet in the library is
    /// indexed first.
    #[arg(long, value_name = "PERSON")]
    pub assign: Option<i64>,
}
