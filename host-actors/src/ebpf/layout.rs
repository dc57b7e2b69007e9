//! From a BTF struct to a datasource [`Schema`].
//!
//! This is where "the runtime knows no gadget" is made true: the event struct named by a marker
//! is flattened into dotted fields (`proc.creds.uid`), `char` arrays become text, typedef names
//! of the gadget ABI become [`Special`] meanings, and each special value that reads better as
//! text gets a derived companion (`error_raw` → `error`, `proc.creds.uid` → `proc.creds.user`)
//! that the formatter stage fills. gadget.yaml annotations are attached last, so a gadget author
//! controls widths, descriptions and visibility without touching Rust.
//!
//! The struct comes from an untrusted object: nesting is bounded by [`MAX_DEPTH`], the number of
//! fields by [`MAX_FIELDS`] and the record by [`MAX_RECORD_SIZE`]; members rig cannot show
//! exactly (bit-fields) are skipped with one warning naming them, and 128-bit integers are kept
//! whole as 16 raw bytes, never truncated.

use std::sync::Arc;

use rig_kernel::input::{escape_control, quote, shorten};
use rig_kernel::metadata::DatasourceMetadata;
use rig_kernel::schema::{Derivation, EnumDef, FieldId, FieldKind, Schema, SchemaBuilder, SchemaError, Special};

use super::btf::{Btf, BtfError, BtfKind, MAX_DEPTH};

mod special;

use special::{IP_ADDR_SIZE, IP_ADDR_TYPE, arg_lists, struct_special};

/// Most fields one datasource may have (a struct of structs of arrays can multiply quickly).
pub const MAX_FIELDS: usize = 4096;

/// Largest event struct accepted: rows of every batch are this wide, so a bogus size would make
/// every batch allocate by it.
pub const MAX_RECORD_SIZE: u32 = 64 * 1024;

/// Why a struct could not become a schema.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The marker names a struct the object's BTF does not have.
    #[error("datasource {datasource}: struct {name} is not in the object's BTF")]
    NoStruct {
        /// Datasource.
        datasource: String,
        /// Struct name.
        name: String,
    },
    /// The resulting schema is inconsistent.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The struct's types cannot be read (a cycle, too deep, a size overflow).
    #[error("datasource {datasource}: {source}")]
    Btf {
        /// Datasource.
        datasource: String,
        /// What is wrong, naming the type.
        #[source]
        source: BtfError,
    },
    /// The struct flattens into more fields than [`MAX_FIELDS`].
    #[error("datasource {datasource}: struct {name} has more than {MAX_FIELDS} fields")]
    TooManyFields {
        /// Datasource.
        datasource: String,
        /// Struct name.
        name: String,
    },
    /// The struct is larger than [`MAX_RECORD_SIZE`].
    #[error("datasource {datasource}: struct {name} is {size} bytes, more than the {MAX_RECORD_SIZE} rig accepts")]
    TooLarge {
        /// Datasource.
        datasource: String,
        /// Struct name.
        name: String,
        /// Its size.
        size: u32,
    },
    /// gadget.yaml's `ebpf.rest.name` collides with a struct member.
    #[error("datasource {datasource}: ebpf.rest.name {} is already a field of the struct", quote(.name, 80))]
    RestCollides {
        /// Datasource.
        datasource: String,
        /// The name.
        name: String,
    },
}

/// Maps an ABI typedef name to its meaning.
pub fn special_of(typedef: &str) -> Option<Special> {
    Some(match typedef {
        "gadget_timestamp" => Special::Timestamp,
        "gadget_mntns_id" => Special::MntnsId,
        "gadget_netns_id" => Special::NetnsId,
        "gadget_errno" => Special::Errno,
        "gadget_signal" => Special::Signal,
        "gadget_syscall" => Special::Syscall,
        "gadget_uid" => Special::Uid,
        "gadget_gid" => Special::Gid,
        "gadget_file_mode" => Special::FileMode,
        "gadget_file_flags" => Special::FileFlags,
        "gadget_bytes" => Special::Bytes,
        "gadget_duration" => Special::Duration,
        "gadget_kernel_stack" => Special::KernelStack,
        other if other.starts_with("gadget_") => Special::Other(other.to_owned()),
        _ => return None,
    })
}

struct Walker<'a> {
    btf: &'a Btf,
    datasource: &'a str,
    struct_name: &'a str,
    b: SchemaBuilder,
    fields: usize,
    /// Fields that get a derived text companion: (raw id, companion name, special).
    companions: Vec<(FieldId, String, Special)>,
    /// Bit-fields skipped (warned about once at the end).
    skipped: Vec<String>,
    /// Fields left out of the default columns (an endpoint's parts), set once all exist.
    columns_hidden: Vec<String>,
}

impl Walker<'_> {
    fn btf_err(&self, source: BtfError) -> LayoutError {
        LayoutError::Btf {
            datasource: self.datasource.to_owned(),
            source,
        }
    }

    fn walk(&mut self, struct_id: u32, prefix: &str, base_bits: u32, depth: usize) -> Result<(), LayoutError> {
        if depth > MAX_DEPTH {
            let name = self.btf.describe(struct_id);
            return Err(self.btf_err(BtfError::TooDeep { name }));
        }
        let btf = self.btf;
        let BtfKind::Struct { members, .. } = &btf.get(struct_id).kind else {
            return Ok(());
        };
        for m in members {
            let name = if m.name.is_empty() {
                prefix.trim_end_matches('.').to_owned()
            } else {
                format!("{prefix}{}", m.name)
            };
            let Some(bits) = base_bits.checked_add(m.bit_offset) else {
                let name = btf.describe(struct_id);
                return Err(self.btf_err(BtfError::TooLarge { name }));
            };
            if m.bitfield_size != 0 || !bits.is_multiple_of(8) {
                self.skipped.push(name);
                continue;
            }
            self.member(&name, m.name.is_empty(), m.type_id, bits / 8, depth)?;
        }
        Ok(())
    }

    fn member(
        &mut self,
        name: &str,
        anonymous: bool,
        type_id: u32,
        offset: u32,
        depth: usize,
    ) -> Result<(), LayoutError> {
        let (base, typedefs) = self.btf.resolve(type_id).map_err(|e| self.btf_err(e))?;
        let ty = self.btf.get(base);
        let ip_union = matches!(ty.kind, BtfKind::Struct { union: true, .. }) && ty.name == IP_ADDR_TYPE;
        let special = match ip_union {
            true => Some(Special::IpAddr),
            false => typedefs.iter().find_map(|t| special_of(t)),
        };
        let (kind, size, enum_def) = match &ty.kind {
            BtfKind::Struct { .. } if ip_union => (FieldKind::Bytes, IP_ADDR_SIZE, None),
            BtfKind::Struct { .. } if struct_special(&ty.name).is_some() && !name.is_empty() => {
                return self.special_struct(name, base, offset, depth);
            }
            BtfKind::Struct { .. } => {
                let prefix = if anonymous && name.is_empty() {
                    String::new()
                } else {
                    format!("{name}.")
                };
                return self.walk(base, &prefix, offset.saturating_mul(8), depth + 1);
            }
            // __int128 and wider: kept whole as raw bytes rather than cut to 64 bits.
            BtfKind::Int { size, .. } if *size > 8 => (FieldKind::Bytes, *size, None),
            BtfKind::Int {
                size,
                signed,
                char,
                bool,
            } => (int_kind(*size, *signed, *bool && !*char), *size, None),
            BtfKind::Enum { size, signed, .. } => {
                let def = EnumDef {
                    name: ty.name.clone(),
                    values: self.btf.enum_values(base),
                    is_set: ty.name.ends_with("_set"),
                };
                (int_kind(*size, *signed, false), *size, Some(def))
            }
            BtfKind::Ptr => (FieldKind::U64, 8, None),
            BtfKind::Float(4) => (FieldKind::F32, 4, None),
            BtfKind::Float(_) => (FieldKind::F64, 8, None),
            BtfKind::Array { elem, .. } => {
                let size = self.btf.size_of(base).map_err(|e| self.btf_err(e))?.unwrap_or(0);
                let (eb, etd) = self.btf.resolve(*elem).map_err(|e| self.btf_err(e))?;
                if let Some(t) = etd
                    .iter()
                    .find(|t| rig_kernel::format::histogram::slot_size(t).is_some())
                {
                    return self.histogram(name, offset, size, (*t).to_owned());
                }
                let is_char = matches!(self.btf.get(eb).kind, BtfKind::Int { size: 1, .. })
                    && (self.btf.get(eb).name == "char" || etd.iter().any(|t| t.contains("comm")));
                (if is_char { FieldKind::Str } else { FieldKind::Bytes }, size, None)
            }
            _ => return Ok(()),
        };
        self.fields += 1;
        if self.fields > MAX_FIELDS {
            return Err(LayoutError::TooManyFields {
                datasource: self.datasource.to_owned(),
                name: self.struct_name.to_owned(),
            });
        }
        let id = self.b.inline(name, kind, offset, size);
        let f = self.b.field_mut(id);
        if let Some(t) = typedefs.iter().find(|t| t.starts_with("gadget_")) {
            f.tags.push(format!("type:{t}"));
        } else if ip_union {
            f.tags.push(format!("type:{IP_ADDR_TYPE}"));
        }
        if name.rsplit('.').next().is_some_and(|n| n.starts_with("__")) {
            f.hidden = true;
        }
        let special = match (special, enum_def) {
            (_, Some(def)) => {
                f.tags.push(format!("enum:{}", def.name));
                Some(Special::Enum(Arc::new(def)))
            }
            (s, None) => s,
        };
        f.special = special.clone();
        let Some(special) = special else { return Ok(()) };
        let companion = match &special {
            Special::Uid => Some(sibling(name, "uid", "user")),
            Special::Gid => Some(sibling(name, "gid", "group")),
            Special::Timestamp
            | Special::Errno
            | Special::Signal
            | Special::Syscall
            | Special::FileMode
            | Special::FileFlags
            | Special::Bytes
            | Special::Duration
            | Special::KernelStack
            | Special::IpAddr
            | Special::Enum(_) => {
                // `x_raw` keeps its name and gets `x`; a plain `x` becomes `x_raw` and `x` the text.
                f.hidden = true;
                match name.strip_suffix("_raw") {
                    Some(base) => Some(base.to_owned()),
                    None => {
                        f.name = format!("{name}_raw");
                        Some(name.to_owned())
                    }
                }
            }
            _ => None,
        };
        if let Some(c) = companion {
            self.companions.push((id, c, special));
        }
        Ok(())
    }
}

impl Walker<'_> {
    /// An array of `gadget_histogram_slot__*`: the slots stay raw bytes (`x_raw`, hidden) and
    /// the companion `x` is filled with the histogram by the formatter (bars as text; the
    /// JSON and YAML sinks write IG's `{unit, intervals}` object for it).
    fn histogram(&mut self, name: &str, offset: u32, size: u32, typedef: String) -> Result<(), LayoutError> {
        self.fields += 1;
        if self.fields > MAX_FIELDS {
            return Err(LayoutError::TooManyFields {
                datasource: self.datasource.to_owned(),
                name: self.struct_name.to_owned(),
            });
        }
        let (raw, companion) = match name.strip_suffix("_raw") {
            Some(base) => (name.to_owned(), base.to_owned()),
            None => (format!("{name}_raw"), name.to_owned()),
        };
        let id = self.b.inline(raw, FieldKind::Bytes, offset, size);
        let f = self.b.field_mut(id);
        f.tags.push(format!("type:{typedef}"));
        f.hidden = true;
        f.special = Some(Special::Other(typedef.clone()));
        self.companions.push((id, companion, Special::Other(typedef)));
        Ok(())
    }
}

/// `a, b, c … and N more`: a list of untrusted names for one log line, bounded.
pub fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 5;
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| shorten(&escape_control(n.as_ref()), 48).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" … and {} more", names.len() - SHOWN));
    }
    out
}

fn int_kind(size: u32, signed: bool, boolean: bool) -> FieldKind {
    match (size, signed, boolean) {
        (1, _, true) => FieldKind::Bool,
        (1, false, _) => FieldKind::U8,
        (1, true, _) => FieldKind::S8,
        (2, false, _) => FieldKind::U16,
        (2, true, _) => FieldKind::S16,
        (4, false, _) => FieldKind::U32,
        (4, true, _) => FieldKind::S32,
        (_, false, _) => FieldKind::U64,
        (_, true, _) => FieldKind::S64,
    }
}

/// `proc.creds.uid` → `proc.creds.user`; `owner_uid` → `owner_user`; `x` → `x_user`.
fn sibling(name: &str, suffix: &str, replacement: &str) -> String {
    match name.strip_suffix(suffix) {
        Some(base) => format!("{base}{replacement}"),
        None => format!("{name}_{replacement}"),
    }
}

/// Builds the schema of a datasource from the BTF struct `struct_name`.
pub fn schema_from_btf(
    btf: &Btf,
    datasource: &str,
    struct_name: &str,
    meta: Option<&DatasourceMetadata>,
) -> Result<Arc<Schema>, LayoutError> {
    schema_from_structs(btf, datasource, &[struct_name], meta)
}

/// Builds the schema of a datasource whose record is several BTF structs back to back (a map
/// iterator's row: the key struct, then the value struct at the key's size), their members
/// flattened under their own names, as IG does.
pub fn schema_from_structs(
    btf: &Btf,
    datasource: &str,
    struct_names: &[&str],
    meta: Option<&DatasourceMetadata>,
) -> Result<Arc<Schema>, LayoutError> {
    let btf_err = |source| LayoutError::Btf {
        datasource: datasource.to_owned(),
        source,
    };
    let mut parts = Vec::with_capacity(struct_names.len());
    let mut raw_size: u32 = 0;
    for name in struct_names {
        let sid = btf.find_struct(name).ok_or_else(|| LayoutError::NoStruct {
            datasource: datasource.to_owned(),
            name: (*name).to_owned(),
        })?;
        let size = btf.size_of(sid).map_err(btf_err)?.unwrap_or(0);
        parts.push((sid, raw_size));
        raw_size = raw_size.saturating_add(size);
    }
    let struct_name = struct_names.join("+");
    if raw_size > MAX_RECORD_SIZE {
        return Err(LayoutError::TooLarge {
            datasource: datasource.to_owned(),
            name: struct_name,
            size: raw_size,
        });
    }
    let mut w = Walker {
        btf,
        datasource,
        struct_name: &struct_name,
        b: SchemaBuilder::new(datasource, raw_size),
        fields: 0,
        companions: Vec::new(),
        skipped: Vec::new(),
        columns_hidden: Vec::new(),
    };
    for (sid, offset) in parts {
        // Below MAX_RECORD_SIZE, so the bit offset fits u32.
        w.walk(sid, "", offset * 8, 0)?;
    }
    if !w.skipped.is_empty() {
        tracing::warn!(
            datasource,
            "struct {struct_name}: {} bit-field member(s) skipped, rig cannot show bit-fields: {}",
            w.skipped.len(),
            name_list(&w.skipped)
        );
    }
    let Walker {
        mut b,
        companions,
        columns_hidden,
        ..
    } = w;
    for (source, name, special) in companions {
        // A gadget may declare both `x_raw` and its own `x`: keep the gadget's field.
        if b.find(&name).is_some() {
            continue;
        }
        let id = b.heap(name, FieldKind::Str);
        let f = b.field_mut(id);
        f.derived = Some(Derivation { source, special });
    }
    arg_lists(&mut b);
    for name in columns_hidden {
        if let Some(id) = b.find(&name) {
            b.field_mut(id)
                .annotations
                .insert("columns.hidden".into(), "true".into());
        }
    }
    // Events that name a namespace get the container and Kubernetes fields (IG's runtime.*, k8s.*).
    let has_namespace = b
        .fields()
        .iter()
        .any(|f| matches!(f.special, Some(Special::MntnsId | Special::NetnsId)));
    crate::containers::enrich::add_fields(&mut b, has_namespace);
    if let Some(meta) = meta {
        if let Some(rest) = meta.annotations.get("ebpf.rest.name") {
            if b.find(rest).is_some() {
                return Err(LayoutError::RestCollides {
                    datasource: datasource.to_owned(),
                    name: rest.clone(),
                });
            }
            let id = b.heap(rest.clone(), FieldKind::Str);
            b.set_rest(id);
        }
        *b.annotations_mut() = meta.annotations.clone();
        let mut unknown = Vec::new();
        for (name, fm) in &meta.fields {
            let Some(id) = b.find(name) else {
                unknown.push(name.as_str());
                continue;
            };
            let f = b.field_mut(id);
            // `columns.hidden` only concerns the columns output; the sink reads it there.
            f.annotations
                .extend(fm.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if !unknown.is_empty() {
            tracing::warn!(
                datasource,
                "gadget.yaml annotates {} field(s) the struct does not have: {}",
                unknown.len(),
                name_list(&unknown)
            );
        }
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_containing_itself_is_an_error_naming_it() {
        fn push(v: &mut Vec<u8>, words: &[u32]) {
            for w in words {
                v.extend_from_slice(&w.to_le_bytes());
            }
        }
        let strings = b"\0self\0m\0".to_vec();
        let mut t = Vec::new();
        push(&mut t, &[1, (4 << 24) | 1, 8, 6, 1, 0]); // 1: struct self { struct self m; }
        let mut data = Vec::new();
        push(
            &mut data,
            &[0x0001_eb9f, 24, 0, t.len() as u32, t.len() as u32, strings.len() as u32],
        );
        data.extend_from_slice(&t);
        data.extend_from_slice(&strings);
        let btf = Btf::parse(&data).unwrap();
        let e = schema_from_btf(&btf, "ds", "self", None).unwrap_err().to_string();
        assert!(e.contains("struct self") && e.contains("deeper"), "{e}");
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn a_colliding_rest_name_is_quoted() {
        let e = LayoutError::RestCollides {
            datasource: "open".into(),
            name: "a\tb".into(),
        };
        assert_eq!(
            e.to_string(),
            "datasource open: ebpf.rest.name \"a\\tb\" is already a field of the struct"
        );
    }

    #[test]
    fn companions_follow_ig_naming() {
        assert_eq!(sibling("proc.creds.uid", "uid", "user"), "proc.creds.user");
        assert_eq!(sibling("owner", "uid", "user"), "owner_user");
        assert!(matches!(special_of("gadget_errno"), Some(Special::Errno)));
        assert!(matches!(special_of("gadget_comm"), Some(Special::Other(_))));
        assert_eq!(special_of("__u32"), None);
    }
}
