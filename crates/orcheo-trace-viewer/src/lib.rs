//! The Trace tab's assets: a page of plain ES modules and CSS (`ui/`), embedded in the binary.
//!
//! This crate only holds the files, their content types, their entity tags and the page's
//! content security policy; the server decides the routes and answers the requests.
//!
//! Invariants: nothing is fetched from elsewhere at run time (the policy allows this origin
//! only); an entity tag is a function of a file's bytes, computed at compile time, so an upgraded
//! server never has a stale page revalidated as fresh. No dependencies.
#![forbid(unsafe_code)]

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The file's name under `/ui/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// A strong entity tag (quoted) derived from the bytes.
    pub etag: &'static str,
}

/// The page itself, answered at `/` and at the deep links.
pub const INDEX: &str = "index.html";

/// The page's content security policy: same origin only; `blob:` for artifact previews and
/// downloads (fetched with the bearer token).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'self'";

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! assets {
    ($(($name:literal, $content_type:expr)),+ $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../ui/", $name)),
            etag: {
                const TAG: [u8; ETAG_LEN] = etag(include_bytes!(concat!("../ui/", $name)));
                match std::str::from_utf8(&TAG) {
                    Ok(tag) => tag,
                    Err(_) => panic!("an entity tag is ASCII"),
                }
            },
        }),+]
    };
}

/// Every embedded file.
pub const ASSETS: &[Asset] = assets![
    ("index.html", "text/html; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("app.js", JS),
    ("api.js", JS),
    ("compare.js", JS),
    ("conversation.js", JS),
    ("details.js", JS),
    ("dom.js", JS),
    ("format.js", JS),
    ("list.js", JS),
    ("live.js", JS),
    ("markdown.js", JS),
    ("status.js", JS),
    ("trace-view.js", JS),
    ("tree-model.js", JS),
    ("tree-view.js", JS),
];

/// The file called `name`, if it is embedded.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

const ETAG_LEN: usize = 34;

/// A strong entity tag computed at compile time: 32 hex digits between quotes, two FNV-1a 64-bit
/// hashes (of the bytes forwards, and backwards with the length mixed in). Not a security
/// boundary: a tag only has to change when its file does.
const fn etag(bytes: &[u8]) -> [u8; ETAG_LEN] {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut forwards: u64 = 0xcbf2_9ce4_8422_2325;
    let mut backwards: u64 = forwards ^ (bytes.len() as u64);
    let mut i = 0;
    while i < bytes.len() {
        forwards = (forwards ^ bytes[i] as u64).wrapping_mul(PRIME);
        backwards = (backwards ^ bytes[bytes.len() - 1 - i] as u64).wrapping_mul(PRIME);
        i += 1;
    }
    let mut tag = [b'"'; ETAG_LEN];
    let mut digit = 0;
    while digit < 16 {
        let shift = 60 - 4 * digit;
        tag[1 + digit] = HEX[((forwards >> shift) & 0xf) as usize];
        tag[17 + digit] = HEX[((backwards >> shift) & 0xf) as usize];
        digit += 1;
    }
    tag
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_of_the_ui_folder_is_embedded_and_nothing_else() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk: Vec<String> = std::fs::read_dir(&folder)
            .expect("the ui folder")
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != "tsconfig.json")
            .collect();
        on_disk.sort();
        let mut embedded: Vec<&str> = super::ASSETS.iter().map(|a| a.name).collect();
        embedded.sort_unstable();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn etags_are_quoted_hex_and_differ_between_files() {
        for (i, a) in super::ASSETS.iter().enumerate() {
            assert_eq!(a.etag.len(), 34, "{}", a.name);
            assert!(
                a.etag.starts_with('"') && a.etag.ends_with('"'),
                "{}",
                a.name
            );
            assert!(
                a.etag[1..33].bytes().all(|b| b.is_ascii_hexdigit()),
                "{}",
                a.name
            );
            assert!(
                super::ASSETS[i + 1..].iter().all(|b| b.etag != a.etag),
                "{}",
                a.name
            );
        }
    }

    #[test]
    fn an_etag_changes_with_a_single_byte_and_with_the_order() {
        assert_ne!(super::etag(b"abc"), super::etag(b"abd"));
        assert_ne!(super::etag(b"ab"), super::etag(b"ba"));
        assert_ne!(super::etag(b""), super::etag(b"\0"));
    }

    #[test]
    fn the_page_is_found_and_unknown_files_are_not() {
        assert!(super::find(super::INDEX).is_some());
        assert!(super::find("../Cargo.toml").is_none());
    }
}
