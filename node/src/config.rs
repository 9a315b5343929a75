//! Node configuration: documented defaults, overridden by a TOML file, then by `FLOTILLA_*`
//! environment variables, then by command-line options (CLI > env > file > default).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use dag::RoomVersion;
use serde::Deserialize;

/// Everything a node needs to start. Build it with [`Config::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the identity key and the database live.
    pub data_dir: PathBuf,
    /// The address the Client-Server API listens on.
    pub listen: SocketAddr,
    /// The version of rooms created without an explicit `room_version` (11 or 12).
    pub default_room_version: RoomVersion,
    /// The largest request body the API accepts, in bytes.
    pub max_request_bytes: usize,
    /// The largest file the media repository accepts, in bytes.
    pub max_upload_bytes: u64,
    pub registration: RegistrationConfig,
    pub rate_limits: RateLimitConfig,
    pub mesh: MeshConfig,
}

/// How the node reaches other nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshConfig {
    /// libp2p addresses to listen on for peers.
    pub p2p_listen: Vec<transport::Address>,
    /// Peers to dial and keep dialing, each `/ip4/…/tcp/…/p2p/<peer id>`.
    pub peers: Vec<transport::Address>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// When set, only these peers may connect ("this ship talks only to the fleet").
    pub allow_peers: Option<Vec<transport::Peer>>,
    /// Seconds between keep-alive pings, which each end sends. A ping wakes Yamux, which adds
    /// its own round-trip probe: on a real socket each costs ~600 bytes with TCP/IP, so hourly
    /// pings keep a quiet link under a byte per second.
    pub ping_interval_s: u64,
}

pub const DEFAULT_P2P_LISTEN: &str = "/ip4/0.0.0.0/tcp/7400";
pub const DEFAULT_PING_INTERVAL_S: u64 = 3600;

#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationConfig {
    pub mode: RegistrationMode,
    /// Tokens that let a client register while registration is token-gated.
    pub tokens: Vec<String>,
}

/// Who may create an account through `/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationMode {
    /// Open while the API listens only on loopback; otherwise token-gated if tokens are
    /// configured, else closed.
    Auto,
    Open,
    /// Only with one of the configured registration tokens.
    Token,
    /// Only through `flotilla user add`.
    Closed,
}

/// What the node does with a `/register` request once the configuration is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationPolicy {
    Open,
    TokenRequired,
    Closed,
}

/// Token buckets: `per_second` refill rate and `burst` capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Requests per second of one authenticated user.
    pub client_per_second: f64,
    pub client_burst: u32,
    /// Unauthenticated login and registration attempts per second from one IP address.
    pub auth_per_second: f64,
    pub auth_burst: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value {value:?} for {name}: {message}")]
    Invalid {
        name: String,
        value: String,
        message: String,
    },
    #[error("no data directory: set --data-dir, FLOTILLA_DATA_DIR, XDG_DATA_HOME or HOME")]
    NoDataDir,
}

/// One source of settings; `None` means "not set here, ask the next source down".
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub default_room_version: Option<String>,
    pub max_request_bytes: Option<usize>,
    pub max_upload_bytes: Option<u64>,
    #[serde(default)]
    pub registration: RegistrationLayer,
    #[serde(default)]
    pub rate_limits: RateLimitLayer,
    pub p2p_listen: Option<Vec<String>>,
    pub peers: Option<Vec<String>>,
    pub mdns: Option<bool>,
    pub allow_peers: Option<Vec<String>>,
    pub ping_interval_s: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationLayer {
    pub mode: Option<String>,
    pub tokens: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitLayer {
    pub enabled: Option<bool>,
    pub client_per_second: Option<f64>,
    pub client_burst: Option<u32>,
    pub auth_per_second: Option<f64>,
    pub auth_burst: Option<u32>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8008";
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// 50 MiB: photos and documents, not video archives.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
pub const ENV_PREFIX: &str = "FLOTILLA_";
/// The environment variable naming the config file, read when `--config` is absent.
pub const CONFIG_FILE_ENV: &str = "FLOTILLA_CONFIG";

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            client_per_second: 50.0,
            client_burst: 200,
            auth_per_second: 1.0,
            auth_burst: 20,
        }
    }
}

impl Config {
    /// The built-in defaults around a data directory, whose own default is
    /// `$XDG_DATA_HOME/flotilla`, else `$HOME/.local/share/flotilla`.
    pub fn defaults(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listen address parses"),
            default_room_version: RoomVersion::V12,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            registration: RegistrationConfig {
                mode: RegistrationMode::Auto,
                tokens: Vec::new(),
            },
            rate_limits: RateLimitConfig::default(),
            mesh: MeshConfig {
                p2p_listen: vec![
                    DEFAULT_P2P_LISTEN
                        .parse()
                        .expect("the default p2p address parses"),
                ],
                peers: Vec::new(),
                mdns: true,
                allow_peers: None,
                ping_interval_s: DEFAULT_PING_INTERVAL_S,
            },
        }
    }

    /// Resolves the configuration from the process environment, an optional config file
    /// (`config_file`, else `FLOTILLA_CONFIG`) and the command-line layer.
    pub fn load(config_file: Option<&Path>, cli: ConfigLayer) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Config::load_from(config_file, &env, cli)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_from(
        config_file: Option<&Path>,
        env: &HashMap<String, String>,
        cli: ConfigLayer,
    ) -> Result<Config, ConfigError> {
        let env_config_file = env.get(CONFIG_FILE_ENV).map(PathBuf::from);
        let file_layer = match config_file.map(Path::to_path_buf).or(env_config_file) {
            Some(path) => read_config_file(&path)?,
            None => ConfigLayer::default(),
        };
        let env_layer = layer_from_env(env)?;
        let data_dir = match [&cli, &env_layer, &file_layer]
            .into_iter()
            .find_map(|layer| layer.data_dir.clone())
        {
            Some(data_dir) => data_dir,
            None => default_data_dir(env)?,
        };
        let mut config = Config::defaults(data_dir);
        for layer in [file_layer, env_layer, cli] {
            config.apply(layer)?;
        }
        Ok(config)
    }

    fn apply(&mut self, layer: ConfigLayer) -> Result<(), ConfigError> {
        if let Some(data_dir) = layer.data_dir {
            self.data_dir = data_dir;
        }
        if let Some(listen) = layer.listen {
            self.listen = parse_value("listen", &listen)?;
        }
        if let Some(version) = layer.default_room_version {
            self.default_room_version = parse_default_room_version(&version)?;
        }
        if let Some(bytes) = layer.max_request_bytes {
            self.max_request_bytes = bytes;
        }
        if let Some(bytes) = layer.max_upload_bytes {
            self.max_upload_bytes = bytes;
        }
        if let Some(mode) = layer.registration.mode {
            self.registration.mode = parse_value("registration.mode", &mode)?;
        }
        if let Some(tokens) = layer.registration.tokens {
            self.registration.tokens = tokens;
        }
        let limits = layer.rate_limits;
        let target = &mut self.rate_limits;
        if let Some(enabled) = limits.enabled {
            target.enabled = enabled;
        }
        if let Some(rate) = limits.client_per_second {
            target.client_per_second = positive_rate("rate_limits.client_per_second", rate)?;
        }
        if let Some(burst) = limits.client_burst {
            target.client_burst = burst;
        }
        if let Some(rate) = limits.auth_per_second {
            target.auth_per_second = positive_rate("rate_limits.auth_per_second", rate)?;
        }
        if let Some(burst) = limits.auth_burst {
            target.auth_burst = burst;
        }
        self.apply_mesh(
            layer.p2p_listen,
            layer.peers,
            layer.mdns,
            layer.allow_peers,
            layer.ping_interval_s,
        )
    }

    fn apply_mesh(
        &mut self,
        p2p_listen: Option<Vec<String>>,
        peers: Option<Vec<String>>,
        mdns: Option<bool>,
        allow_peers: Option<Vec<String>>,
        ping_interval_s: Option<u64>,
    ) -> Result<(), ConfigError> {
        if let Some(addresses) = p2p_listen {
            self.mesh.p2p_listen = parse_all("p2p_listen", addresses)?;
        }
        if let Some(addresses) = peers {
            self.mesh.peers = parse_all("peers", addresses)?;
            if let Some(bad) = self
                .mesh
                .peers
                .iter()
                .find(|a| !a.iter().any(|p| matches!(p, transport::Protocol::P2p(_))))
            {
                return Err(ConfigError::Invalid {
                    name: "peers".into(),
                    value: bad.to_string(),
                    message: "a static peer address must end in /p2p/<peer id>".into(),
                });
            }
        }
        if let Some(mdns) = mdns {
            self.mesh.mdns = mdns;
        }
        if let Some(peers) = allow_peers {
            self.mesh.allow_peers = Some(parse_all("allow_peers", peers)?);
        }
        if let Some(seconds) = ping_interval_s {
            self.mesh.ping_interval_s = seconds.max(1);
        }
        Ok(())
    }

    /// Applies [`RegistrationMode::Auto`]: open registration is only safe while nobody but
    /// this machine can reach the API.
    pub fn registration_policy(&self) -> RegistrationPolicy {
        match self.registration.mode {
            RegistrationMode::Open => RegistrationPolicy::Open,
            RegistrationMode::Closed => RegistrationPolicy::Closed,
            RegistrationMode::Token => RegistrationPolicy::TokenRequired,
            RegistrationMode::Auto if self.listen.ip().is_loopback() => RegistrationPolicy::Open,
            RegistrationMode::Auto if !self.registration.tokens.is_empty() => {
                RegistrationPolicy::TokenRequired
            }
            RegistrationMode::Auto => RegistrationPolicy::Closed,
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join(crate::identity::KEY_FILE_NAME)
    }

    pub fn database_file(&self) -> PathBuf {
        self.data_dir.join(crate::store::DATABASE_FILE_NAME)
    }
}

impl FromStr for RegistrationMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(RegistrationMode::Auto),
            "open" => Ok(RegistrationMode::Open),
            "token" => Ok(RegistrationMode::Token),
            "closed" => Ok(RegistrationMode::Closed),
            _ => Err("expected auto, open, token or closed".into()),
        }
    }
}

/// Only the versions new rooms may be created with by default.
pub fn parse_default_room_version(value: &str) -> Result<RoomVersion, ConfigError> {
    match value.parse::<RoomVersion>() {
        Ok(version @ (RoomVersion::V11 | RoomVersion::V12)) => Ok(version),
        _ => Err(ConfigError::Invalid {
            name: "default_room_version".into(),
            value: value.into(),
            message: "expected 11 or 12".into(),
        }),
    }
}

fn parse_value<T: FromStr>(name: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|error: T::Err| ConfigError::Invalid {
        name: name.into(),
        value: value.into(),
        message: error.to_string(),
    })
}

fn parse_all<T: FromStr>(name: &str, values: Vec<String>) -> Result<Vec<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    values
        .iter()
        .map(|value| parse_value(name, value))
        .collect()
}

fn positive_rate(name: &str, rate: f64) -> Result<f64, ConfigError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(ConfigError::Invalid {
            name: name.into(),
            value: rate.to_string(),
            message: "expected a positive number".into(),
        })
    }
}

fn default_data_dir(env: &HashMap<String, String>) -> Result<PathBuf, ConfigError> {
    let non_empty = |name: &str| env.get(name).filter(|value| !value.is_empty());
    if let Some(xdg) = non_empty("XDG_DATA_HOME") {
        return Ok(Path::new(xdg).join("flotilla"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(Path::new(home).join(".local/share/flotilla")),
        None => Err(ConfigError::NoDataDir),
    }
}

fn read_config_file(path: &Path) -> Result<ConfigLayer, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

/// Reads the `FLOTILLA_<OPTION>` variables this configuration knows; others are ignored so
/// that tools and tests may use the prefix for their own switches.
fn layer_from_env(env: &HashMap<String, String>) -> Result<ConfigLayer, ConfigError> {
    let variables = EnvVariables(env);
    Ok(ConfigLayer {
        data_dir: variables.get("DATA_DIR").map(PathBuf::from),
        listen: variables.get("LISTEN"),
        default_room_version: variables.get("DEFAULT_ROOM_VERSION"),
        max_request_bytes: variables.parsed("MAX_REQUEST_BYTES")?,
        max_upload_bytes: variables.parsed("MAX_UPLOAD_BYTES")?,
        registration: RegistrationLayer {
            mode: variables.get("REGISTRATION_MODE"),
            tokens: variables.get("REGISTRATION_TOKENS").map(|tokens| {
                tokens
                    .split(',')
                    .map(str::trim)
                    .filter(|token| !token.is_empty())
                    .map(String::from)
                    .collect()
            }),
        },
        rate_limits: RateLimitLayer {
            enabled: variables.parsed("RATE_LIMITS_ENABLED")?,
            client_per_second: variables.parsed("RATE_LIMITS_CLIENT_PER_SECOND")?,
            client_burst: variables.parsed("RATE_LIMITS_CLIENT_BURST")?,
            auth_per_second: variables.parsed("RATE_LIMITS_AUTH_PER_SECOND")?,
            auth_burst: variables.parsed("RATE_LIMITS_AUTH_BURST")?,
        },
        p2p_listen: variables.list("P2P_LISTEN"),
        peers: variables.list("PEERS"),
        mdns: variables.parsed("MDNS")?,
        allow_peers: variables.list("ALLOW_PEERS"),
        ping_interval_s: variables.parsed("PING_INTERVAL_S")?,
    })
}

/// The `FLOTILLA_<OPTION>` variables of an environment.
struct EnvVariables<'a>(&'a HashMap<String, String>);

impl EnvVariables<'_> {
    fn get(&self, option: &str) -> Option<String> {
        self.0.get(&format!("{ENV_PREFIX}{option}")).cloned()
    }

    /// A comma-separated list.
    fn list(&self, option: &str) -> Option<Vec<String>> {
        self.get(option).map(|items| {
            items
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect()
        })
    }

    fn parsed<T: FromStr>(&self, option: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(option)
            .map(|value| parse_value(&format!("{ENV_PREFIX}{option}"), &value))
            .transpose()
    }
}

/// The config file `flotilla init` writes: every option with its default and what it means.
pub const COMMENTED_TEMPLATE: &str = r#"# Flotilla node configuration.
#
# Precedence: command-line options > FLOTILLA_<OPTION> environment variables > this file >
# built-in defaults. Environment variables are the option names in upper case, with a
# section's name as prefix: FLOTILLA_LISTEN, FLOTILLA_RATE_LIMITS_ENABLED,
# FLOTILLA_REGISTRATION_TOKENS (comma-separated). FLOTILLA_CONFIG names this file.

# Where the node keeps its identity key (node.key) and its database (flotilla.db).
# Default: $XDG_DATA_HOME/flotilla, else $HOME/.local/share/flotilla.
# data_dir = "/var/lib/flotilla"

# Address and port of the Matrix Client-Server API.
listen = "127.0.0.1:8008"

# Room version of new rooms that do not ask for one: "11" or "12".
default_room_version = "12"

# Largest request body accepted, in bytes; larger requests get 413 M_TOO_LARGE.
max_request_bytes = 1048576

# Largest file a client may upload to the media repository, in bytes (default 50 MiB); larger
# uploads get 413 M_TOO_LARGE. Media stays on this node: the mesh carries room events only.
max_upload_bytes = 52428800

# libp2p addresses where other nodes reach this one (FLOTILLA_P2P_LISTEN, comma-separated).
p2p_listen = ["/ip4/0.0.0.0/tcp/7400"]

# Nodes to dial and keep dialing, each ending in /p2p/<peer id> (`flotilla id` prints it).
peers = []

# Find nodes on the local network with mDNS (FLOTILLA_MDNS=false turns it off).
mdns = true

# When set, only these peer IDs may connect at all; anyone else is refused at connection time.
# allow_peers = ["12D3KooW..."]

# Seconds between keep-alive pings, which each end sends. With TCP/IP and Yamux's own probe a
# ping costs ~600 bytes on the wire, so hourly pings keep a quiet link under a byte per second.
ping_interval_s = 3600

[registration]
# auto:   open while `listen` is a loopback address; otherwise "token" if tokens are set,
#         else "closed".
# open:   anyone who reaches the API may create an account.
# token:  a client must present one of `tokens` (m.login.registration_token).
# closed: accounts are only created with `flotilla user add`.
mode = "auto"
tokens = []

[rate_limits]
# Token buckets: a bucket holds `burst` requests and refills at `per_second`.
enabled = true
# Per authenticated user, over all client requests.
client_per_second = 50.0
client_burst = 200
# Per IP address, over login and registration attempts.
auth_per_second = 1.0
auth_burst = 20
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write_file(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("flotilla.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_without_any_source() {
        let config =
            Config::load_from(None, &env(&[("HOME", "/home/sea")]), ConfigLayer::default())
                .unwrap();
        assert_eq!(
            config.data_dir,
            Path::new("/home/sea/.local/share/flotilla")
        );
        assert_eq!(config.listen.to_string(), "127.0.0.1:8008");
        assert_eq!(config.default_room_version, RoomVersion::V12);
        assert!(config.rate_limits.enabled);
        assert_eq!(config.registration_policy(), RegistrationPolicy::Open);
    }

    #[test]
    fn xdg_data_home_wins_over_home() {
        let config = Config::load_from(
            None,
            &env(&[("HOME", "/home/sea"), ("XDG_DATA_HOME", "/data")]),
            ConfigLayer::default(),
        )
        .unwrap();
        assert_eq!(config.data_dir, Path::new("/data/flotilla"));
    }

    #[test]
    fn no_home_and_no_data_dir_is_an_error() {
        let error = Config::load_from(None, &env(&[]), ConfigLayer::default()).unwrap_err();
        assert!(matches!(error, ConfigError::NoDataDir));
        let config = Config::load_from(
            None,
            &env(&[("FLOTILLA_DATA_DIR", "/d")]),
            ConfigLayer::default(),
        )
        .unwrap();
        assert_eq!(config.data_dir, Path::new("/d"));
    }

    #[test]
    fn cli_beats_env_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(
            &dir,
            "listen = \"127.0.0.1:1000\"\ndefault_room_version = \"11\"\n\
             data_dir = \"/file\"\n[rate_limits]\nclient_burst = 7\nenabled = false\n",
        );
        let env = env(&[
            ("HOME", "/home/sea"),
            ("FLOTILLA_LISTEN", "127.0.0.1:2000"),
            ("FLOTILLA_DATA_DIR", "/env"),
            ("FLOTILLA_RATE_LIMITS_ENABLED", "true"),
            ("FLOTILLA_SOMETHING_UNKNOWN", "whatever"),
        ]);
        let cli = ConfigLayer {
            listen: Some("127.0.0.1:3000".into()),
            ..ConfigLayer::default()
        };
        let config = Config::load_from(Some(&file), &env, cli).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(config.data_dir, Path::new("/env"));
        assert_eq!(config.default_room_version, RoomVersion::V11);
        assert_eq!(config.rate_limits.client_burst, 7);
        assert!(config.rate_limits.enabled);
        assert_eq!(config.rate_limits.auth_burst, 20);
    }

    #[test]
    fn every_option_has_an_environment_variable() {
        let env = env(&[
            ("HOME", "/h"),
            ("FLOTILLA_DEFAULT_ROOM_VERSION", "11"),
            ("FLOTILLA_MAX_REQUEST_BYTES", "4096"),
            ("FLOTILLA_MAX_UPLOAD_BYTES", "8192"),
            ("FLOTILLA_REGISTRATION_MODE", "token"),
            ("FLOTILLA_REGISTRATION_TOKENS", " one, two ,,"),
            ("FLOTILLA_RATE_LIMITS_CLIENT_PER_SECOND", "2.5"),
            ("FLOTILLA_RATE_LIMITS_CLIENT_BURST", "9"),
            ("FLOTILLA_RATE_LIMITS_AUTH_PER_SECOND", "0.5"),
            ("FLOTILLA_RATE_LIMITS_AUTH_BURST", "3"),
            (
                "FLOTILLA_P2P_LISTEN",
                "/ip4/127.0.0.1/tcp/0, /ip4/127.0.0.1/tcp/9",
            ),
            (
                "FLOTILLA_PEERS",
                "/ip4/127.0.0.1/tcp/5/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            ),
            ("FLOTILLA_MDNS", "false"),
            (
                "FLOTILLA_ALLOW_PEERS",
                "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            ),
            ("FLOTILLA_PING_INTERVAL_S", "600"),
        ]);
        let config = Config::load_from(None, &env, ConfigLayer::default()).unwrap();
        assert_eq!(config.mesh.p2p_listen.len(), 2);
        assert_eq!(config.mesh.peers.len(), 1);
        assert!(!config.mesh.mdns);
        assert_eq!(config.mesh.allow_peers.as_ref().map(Vec::len), Some(1));
        assert_eq!(config.mesh.ping_interval_s, 600);
        assert_eq!(config.default_room_version, RoomVersion::V11);
        assert_eq!(config.max_request_bytes, 4096);
        assert_eq!(config.max_upload_bytes, 8192);
        assert_eq!(config.registration.mode, RegistrationMode::Token);
        assert_eq!(config.registration.tokens, ["one", "two"]);
        assert_eq!(
            config.registration_policy(),
            RegistrationPolicy::TokenRequired
        );
        assert_eq!(
            config.rate_limits,
            RateLimitConfig {
                enabled: true,
                client_per_second: 2.5,
                client_burst: 9,
                auth_per_second: 0.5,
                auth_burst: 3,
            }
        );
        let negative = Config::load_from(
            None,
            &[
                ("HOME", "/h"),
                ("FLOTILLA_RATE_LIMITS_AUTH_PER_SECOND", "-1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ConfigLayer::default(),
        );
        assert!(negative.is_err());
    }

    #[test]
    fn config_file_from_env_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(&dir, "max_request_bytes = 10\n");
        let env = env(&[("HOME", "/h"), ("FLOTILLA_CONFIG", file.to_str().unwrap())]);
        let config = Config::load_from(None, &env, ConfigLayer::default()).unwrap();
        assert_eq!(config.max_request_bytes, 10);
    }

    #[test]
    fn static_peers_need_a_peer_id() {
        let env = env(&[("HOME", "/h"), ("FLOTILLA_PEERS", "/ip4/127.0.0.1/tcp/5")]);
        let error = Config::load_from(None, &env, ConfigLayer::default()).unwrap_err();
        assert!(error.to_string().contains("peers"), "{error}");
        let env = self::env(&[("HOME", "/h"), ("FLOTILLA_P2P_LISTEN", "not an address")]);
        assert!(Config::load_from(None, &env, ConfigLayer::default()).is_err());
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let home = env(&[("HOME", "/h")]);
        let cli = |version: &str| ConfigLayer {
            default_room_version: Some(version.into()),
            ..ConfigLayer::default()
        };
        for bad in ["10", "13", "twelve"] {
            let error = Config::load_from(None, &home, cli(bad)).unwrap_err();
            assert!(
                error.to_string().contains("default_room_version"),
                "{error}"
            );
        }
        let error = Config::load_from(
            None,
            &env(&[("HOME", "/h"), ("FLOTILLA_LISTEN", "nowhere")]),
            ConfigLayer::default(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("listen"), "{error}");
        let error = Config::load_from(
            None,
            &env(&[("HOME", "/h"), ("FLOTILLA_RATE_LIMITS_ENABLED", "maybe")]),
            ConfigLayer::default(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("RATE_LIMITS_ENABLED"), "{error}");
    }

    #[test]
    fn unknown_or_malformed_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let home = env(&[("HOME", "/h")]);
        for text in [
            "lisen = \"x\"\n",
            "listen = [1\n",
            "[rate_limits]\nburst = 1\n",
        ] {
            let file = write_file(&dir, text);
            let error = Config::load_from(Some(&file), &home, ConfigLayer::default());
            assert!(matches!(error, Err(ConfigError::Parse { .. })), "{text}");
        }
        let missing = dir.path().join("missing.toml");
        let error = Config::load_from(Some(&missing), &home, ConfigLayer::default());
        assert!(matches!(error, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn template_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(&dir, COMMENTED_TEMPLATE);
        let home = env(&[("HOME", "/h")]);
        let from_template = Config::load_from(Some(&file), &home, ConfigLayer::default()).unwrap();
        let defaults = Config::load_from(None, &home, ConfigLayer::default()).unwrap();
        assert_eq!(from_template, defaults);
    }

    #[test]
    fn registration_policy_depends_on_the_listen_address() {
        let home = env(&[("HOME", "/h")]);
        let public = |tokens: Option<Vec<String>>, mode: Option<&str>| {
            let cli = ConfigLayer {
                listen: Some("0.0.0.0:8008".into()),
                registration: RegistrationLayer {
                    mode: mode.map(String::from),
                    tokens,
                },
                ..ConfigLayer::default()
            };
            Config::load_from(None, &home, cli)
                .unwrap()
                .registration_policy()
        };
        assert_eq!(public(None, None), RegistrationPolicy::Closed);
        assert_eq!(
            public(Some(vec!["t".into()]), None),
            RegistrationPolicy::TokenRequired
        );
        assert_eq!(public(None, Some("open")), RegistrationPolicy::Open);
        let loopback_closed = ConfigLayer {
            registration: RegistrationLayer {
                mode: Some("closed".into()),
                tokens: None,
            },
            ..ConfigLayer::default()
        };
        let config = Config::load_from(None, &home, loopback_closed).unwrap();
        assert_eq!(config.registration_policy(), RegistrationPolicy::Closed);
    }
}
