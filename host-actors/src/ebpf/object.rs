//! What a gadget's eBPF object declares, read before anything touches the kernel.
//!
//! The gadget ABI marks datasources and parameters with unused global variables whose *names*
//! encode the declaration (`gadget_tracer_<name>___<map>___<struct>`, `gadget_param_<var>`, …).
//! [`GadgetObject::parse`] finds them in the object's BTF, lists the programs with their ELF
//! section names (which say how to attach them), and types every parameter from the BTF of its
//! variable. A corrupt object is refused here with an error naming the file.

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use rig_kernel::input::quote;

use super::btf::{Btf, BtfError, BtfKind};
use super::layout::name_list;

/// Marker prefixes rig reads; any other `const void *gadget_…` global is an unknown marker.
const MARKERS: &[&str] = &[
    "gadget_tracer_",
    "gadget_snapshotter_",
    "gadget_iter_",
    "gadget_mapiter_",
    "gadget_param_",
    "gadget_map_tracer_",
];

/// A program and the section that says where it attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function name (aya's program name).
    pub name: String,
    /// ELF section, e.g. `tracepoint/syscalls/sys_enter_openat`.
    pub section: String,
    /// An earlier program that is the same code for the same kind of hook
    /// ([`super::fingerprint`]): this one is not loaded, that one is attached here too.
    pub twin_of: Option<String>,
}

/// `GADGET_TRACER(name, map, struct)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracerSpec {
    /// Datasource name.
    pub name: String,
    /// Ring buffer map.
    pub map: String,
    /// Event struct.
    pub struct_name: String,
}

/// `GADGET_SNAPSHOTTER(name, struct, prog…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotterSpec {
    /// Datasource name.
    pub name: String,
    /// Row struct.
    pub struct_name: String,
    /// Iterator programs whose output is the snapshot.
    pub programs: Vec<String>,
}

/// `GADGET_MAPITER(name, map)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapIterSpec {
    /// Datasource name.
    pub name: String,
    /// Hash map drained periodically.
    pub map: String,
}

/// The C type of a `GADGET_PARAM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `bool`.
    Bool,
    /// An integer (or enum) of this size.
    Int {
        /// Size in bytes.
        size: u32,
        /// Signed.
        signed: bool,
    },
    /// A `char` array of this size (NUL-terminated text).
    Str {
        /// Array size in bytes.
        size: u32,
    },
}

/// A `GADGET_PARAM` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// The C variable.
    pub var: String,
    /// Its type.
    pub ty: ParamType,
}

/// Why an object cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// Not an ELF file.
    #[error("{path}: not a valid eBPF ELF object: {source}")]
    Elf {
        /// The object.
        path: String,
        /// The parser's complaint.
        #[source]
        source: object::Error,
    },
    /// BTF is missing or broken.
    #[error("{path}: {source}")]
    Btf {
        /// The object.
        path: String,
        /// What is wrong.
        #[source]
        source: BtfError,
    },
    /// A marker is malformed.
    #[error("{path}: malformed marker {}: {why}", quote(marker, 120))]
    Marker {
        /// The object.
        path: String,
        /// The variable name.
        marker: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A parameter has a type rig cannot set.
    #[error("{path}: parameter {var} has unsupported type (want bool, integer, enum or char array)")]
    ParamType {
        /// The object.
        path: String,
        /// The variable.
        var: String,
    },
    /// A tracer reads a ring buffer the object does not define.
    #[error(
        "{path}: tracer {} reads map {}, which the object does not define (its maps: {maps})",
        quote(tracer, 64),
        quote(map, 64)
    )]
    MissingMap {
        /// The object.
        path: String,
        /// The tracer (datasource) name.
        tracer: String,
        /// The map it names.
        map: String,
        /// The maps there are, listed briefly.
        maps: String,
    },
    /// Two markers declare the same datasource name.
    #[error("{path}: datasource {} is declared twice", quote(name, 64))]
    DuplicateDatasource {
        /// The object.
        path: String,
        /// The name.
        name: String,
    },
    /// The object declares no datasource.
    #[error(
        "{path}: declares no GADGET_TRACER, GADGET_SNAPSHOTTER or GADGET_MAPITER, so it would show nothing (IG gadgets whose events one of IG's Go operators collects, such as traceloop, are operator-driven: rig does not implement those operators)"
    )]
    NoDatasource {
        /// The object.
        path: String,
    },
}

/// A parsed gadget object.
#[derive(Debug, Clone)]
pub struct GadgetObject {
    /// The ELF bytes, handed to aya as they are.
    pub bytes: Vec<u8>,
    /// Where it came from (for errors).
    pub path: String,
    /// The object's BTF.
    pub btf: Btf,
    /// Programs with sections.
    pub programs: Vec<ProgramSpec>,
    /// Tracers.
    pub tracers: Vec<TracerSpec>,
    /// Snapshotters.
    pub snapshotters: Vec<SnapshotterSpec>,
    /// Map iterators.
    pub mapiters: Vec<MapIterSpec>,
    /// Parameters.
    pub params: Vec<ParamSpec>,
}

/// Marks each program that is the same code as an earlier one on the same kind of hook. Only
/// tracepoints and raw tracepoints qualify (their load does not depend on the hook), and only
/// sections holding a single program.
fn find_twins(elf: &object::File<'_>, programs: &mut [ProgramSpec]) {
    let kind = |section: &str| match section.split('/').next().unwrap_or_default() {
        "tracepoint" | "tp" => Some("tracepoint"),
        "raw_tp" | "raw_tracepoint" => Some("raw_tp"),
        _ => None,
    };
    let single: Vec<&str> = programs
        .iter()
        .filter(|p| kind(&p.section).is_some() && programs.iter().filter(|q| q.section == p.section).count() == 1)
        .map(|p| p.section.as_str())
        .collect();
    let prints = super::fingerprint::of_sections(elf, &single);
    let mut seen: std::collections::BTreeMap<(&str, super::fingerprint::Fingerprint), String> = Default::default();
    let mut twins = Vec::new();
    for p in programs.iter() {
        let (Some(k), Some(fp)) = (kind(&p.section), prints.get(&p.section)) else {
            continue;
        };
        match seen.get(&(k, *fp)) {
            Some(first) => twins.push((p.name.clone(), first.clone())),
            None => {
                seen.insert((k, *fp), p.name.clone());
            }
        }
    }
    for (name, first) in twins {
        if let Some(p) = programs.iter_mut().find(|p| p.name == name) {
            p.twin_of = Some(first);
        }
    }
}

fn split3(rest: &str) -> Vec<String> {
    rest.split("___").map(str::to_owned).collect()
}

impl GadgetObject {
    /// Reads the declarations of an object; `path` names it in errors.
    pub fn parse(bytes: Vec<u8>, path: &str) -> Result<Self, ObjectError> {
        Self::parse_inner(bytes, path, true)
    }

    /// Reads one of rig's helper programs (the container hook): programs and maps, no
    /// datasource required.
    pub fn parse_helper(bytes: Vec<u8>, path: &str) -> Result<Self, ObjectError> {
        Self::parse_inner(bytes, path, false)
    }

    fn parse_inner(bytes: Vec<u8>, path: &str, gadget: bool) -> Result<Self, ObjectError> {
        let elf = object::File::parse(&*bytes).map_err(|source| ObjectError::Elf {
            path: path.into(),
            source,
        })?;
        let btf_data = elf
            .section_by_name(".BTF")
            .and_then(|s| s.data().ok())
            .ok_or(ObjectError::Btf {
                path: path.into(),
                source: BtfError::Missing,
            })?;
        let btf = Btf::parse(btf_data).map_err(|source| ObjectError::Btf {
            path: path.into(),
            source,
        })?;
        let mut programs = Vec::new();
        for sym in elf.symbols() {
            if sym.kind() != SymbolKind::Text || !sym.is_global() {
                continue;
            }
            let Some(idx) = sym.section_index() else {
                continue;
            };
            let Ok(sec) = elf.section_by_index(idx) else {
                continue;
            };
            let (Ok(sec_name), Ok(name)) = (sec.name(), sym.name()) else {
                continue;
            };
            if sec_name == ".text" || sec_name.starts_with(".") {
                continue;
            }
            programs.push(ProgramSpec {
                name: name.to_owned(),
                section: sec_name.to_owned(),
                twin_of: None,
            });
        }
        find_twins(&elf, &mut programs);
        let bad = |marker: &str, why| ObjectError::Marker {
            path: path.into(),
            marker: marker.into(),
            why,
        };
        let mut out = Self {
            bytes: Vec::new(),
            path: path.to_owned(),
            programs,
            tracers: Vec::new(),
            snapshotters: Vec::new(),
            mapiters: Vec::new(),
            params: Vec::new(),
            btf: btf.clone(),
        };
        for (var, _) in btf.vars() {
            if let Some(rest) = var.strip_prefix("gadget_tracer_") {
                let p = split3(rest);
                let [name, map, st] = p.as_slice() else {
                    return Err(bad(var, "want gadget_tracer_<name>___<map>___<struct>"));
                };
                out.tracers.push(TracerSpec {
                    name: name.clone(),
                    map: map.clone(),
                    struct_name: st.clone(),
                });
            } else if let Some(rest) = var
                .strip_prefix("gadget_snapshotter_")
                .or_else(|| var.strip_prefix("gadget_iter_"))
            {
                let p = split3(rest);
                if p.len() < 3 {
                    return Err(bad(
                        var,
                        "want gadget_snapshotter_<name>___<struct>___<prog>[___<prog>…]",
                    ));
                }
                out.snapshotters.push(SnapshotterSpec {
                    name: p[0].clone(),
                    struct_name: p[1].clone(),
                    programs: p[2..].to_vec(),
                });
            } else if let Some(rest) = var.strip_prefix("gadget_mapiter_") {
                let p = split3(rest);
                let [name, map] = p.as_slice() else {
                    return Err(bad(var, "want gadget_mapiter_<name>___<map>"));
                };
                out.mapiters.push(MapIterSpec {
                    name: name.clone(),
                    map: map.clone(),
                });
            } else if let Some(param) = var.strip_prefix("gadget_param_") {
                let (_, ty) = btf
                    .vars()
                    .find(|(n, _)| *n == param)
                    .ok_or_else(|| bad(var, "names no global variable"))?;
                let ty = param_type(&btf, ty).ok_or_else(|| ObjectError::ParamType {
                    path: path.into(),
                    var: param.into(),
                })?;
                out.params.push(ParamSpec {
                    var: param.to_owned(),
                    ty,
                });
            }
        }
        if gadget && out.tracers.is_empty() && out.snapshotters.is_empty() && out.mapiters.is_empty() {
            return Err(ObjectError::NoDatasource { path: path.into() });
        }
        out.check_declarations(&elf)?;
        let unknown: Vec<&str> = btf
            .vars()
            .filter(|(n, ty)| {
                n.starts_with("gadget_")
                    && !MARKERS.iter().any(|m| n.starts_with(m))
                    && btf.resolve(*ty).is_ok_and(|(b, _)| btf.get(b).kind == BtfKind::Ptr)
            })
            .map(|(n, _)| n)
            .collect();
        if !unknown.is_empty() {
            tracing::warn!(
                object = path,
                "{} unknown gadget marker(s) ignored: {}",
                unknown.len(),
                name_list(&unknown)
            );
        }
        out.bytes = bytes;
        Ok(out)
    }

    /// Every map the object defines: BTF-defined maps (`.maps`) and legacy `maps` symbols.
    fn map_names(&self, elf: &object::File<'_>) -> Vec<String> {
        let mut maps: Vec<String> = self.btf.datasec_vars(".maps").into_iter().map(str::to_owned).collect();
        for sym in elf.symbols() {
            let Some(sec) = sym.section_index().and_then(|i| elf.section_by_index(i).ok()) else {
                continue;
            };
            if sec.name().is_ok_and(|n| n == "maps" || n.starts_with("maps/"))
                && let Ok(name) = sym.name()
            {
                maps.push(name.to_owned());
            }
        }
        maps.sort();
        maps.dedup();
        maps
    }

    /// Tracers name maps that exist; no datasource name is declared twice.
    fn check_declarations(&self, elf: &object::File<'_>) -> Result<(), ObjectError> {
        let maps = self.map_names(elf);
        for t in &self.tracers {
            if !maps.contains(&t.map) {
                return Err(ObjectError::MissingMap {
                    path: self.path.clone(),
                    tracer: t.name.clone(),
                    map: t.map.clone(),
                    maps: if maps.is_empty() {
                        "none".into()
                    } else {
                        name_list(&maps)
                    },
                });
            }
        }
        let mut names: Vec<&str> = self
            .tracers
            .iter()
            .map(|t| t.name.as_str())
            .chain(self.snapshotters.iter().map(|s| s.name.as_str()))
            .chain(self.mapiters.iter().map(|m| m.name.as_str()))
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ObjectError::DuplicateDatasource {
                path: self.path.clone(),
                name: w[0].to_owned(),
            });
        }
        Ok(())
    }

    /// The section of a program.
    pub fn section_of(&self, program: &str) -> Option<&str> {
        self.programs
            .iter()
            .find(|p| p.name == program)
            .map(|p| p.section.as_str())
    }
}

fn param_type(btf: &Btf, ty: u32) -> Option<ParamType> {
    let (base, _) = btf.resolve(ty).ok()?;
    match &btf.get(base).kind {
        BtfKind::Int { bool: true, .. } => Some(ParamType::Bool),
        BtfKind::Int { size, signed, .. } | BtfKind::Enum { size, signed, .. } => Some(ParamType::Int {
            size: *size,
            signed: *signed,
        }),
        BtfKind::Array { elem, len } => {
            let (e, _) = btf.resolve(*elem).ok()?;
            matches!(btf.get(e).kind, BtfKind::Int { size: 1, .. }).then_some(ParamType::Str { size: *len })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_with_the_path() {
        let err = GadgetObject::parse(b"\x7fELF garbage".to_vec(), "bad.o")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("bad.o: not a valid eBPF ELF object"), "{err}");
    }
}
