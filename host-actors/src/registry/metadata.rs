//! gadget.yaml against the object: the check `rig image build` makes, and the rewrite
//! `--update-metadata` does.
//!
//! Every datasource, field and `params.ebpf` entry gadget.yaml mentions must exist in the
//! object's BTF; [`validate`] lists each one that does not. [`update`] makes the file agree with
//! the object: missing datasources, visible fields and undocumented parameters are added with
//! `TODO` descriptions, names the object no longer has are dropped, and everything else —
//! annotations, descriptions, key order — is kept as written.

use std::collections::BTreeSet;

use rig_kernel::GadgetMetadata;
use serde_yaml::{Mapping, Value};

use crate::ebpf::layout;
use crate::ebpf::object::GadgetObject;
use crate::ebpf::params;

/// The datasources an object declares, with their field names (`None`: fields not known, e.g.
/// a map iterator).
/// A datasource's name and, when known, its fields as (name, hidden).
type DeclaredDatasource = (String, Option<Vec<(String, bool)>>);

fn datasources(object: &GadgetObject) -> Vec<DeclaredDatasource> {
    let fields = |ds: &str, st: &str| {
        layout::schema_from_btf(&object.btf, ds, st, None)
            .ok()
            .map(|s| s.fields.iter().map(|f| (f.name.clone(), f.hidden)).collect())
    };
    let mut out = Vec::new();
    for t in &object.tracers {
        out.push((t.name.clone(), fields(&t.name, &t.struct_name)));
    }
    for s in &object.snapshotters {
        out.push((s.name.clone(), fields(&s.name, &s.struct_name)));
    }
    for m in &object.mapiters {
        out.push((m.name.clone(), None));
    }
    out
}

/// Every way gadget.yaml disagrees with the object, one line each (empty: it agrees).
pub fn validate(meta: &GadgetMetadata, object: &GadgetObject) -> Vec<String> {
    let declared = datasources(object);
    let mut problems = Vec::new();
    for (name, ds) in &meta.datasources {
        let Some((_, fields)) = declared.iter().find(|(n, _)| n == name) else {
            problems.push(format!(
                "datasource {name:?} is not declared by the object (it declares: {})",
                declared.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ));
            continue;
        };
        let Some(fields) = fields else { continue };
        let mut known: BTreeSet<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
        if let Some(rest) = ds.annotations.get("ebpf.rest.name") {
            known.insert(rest);
        }
        for f in ds.fields.keys() {
            if !known.contains(f.as_str()) {
                problems.push(format!("datasource {name:?}: field {f:?} is not in the event struct"));
            }
        }
    }
    let vars: BTreeSet<&str> = object.params.iter().map(|p| p.var.as_str()).collect();
    for var in meta.params.ebpf.keys() {
        if !vars.contains(var.as_str()) {
            problems.push(format!("params.ebpf.{var}: the object has no GADGET_PARAM({var})"));
        }
    }
    problems
}

fn key(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn mapping<'a>(parent: &'a mut Mapping, k: &str) -> &'a mut Mapping {
    let v = parent.entry(key(k)).or_insert_with(|| Value::Mapping(Mapping::new()));
    if !v.is_mapping() {
        *v = Value::Mapping(Mapping::new());
    }
    v.as_mapping_mut().expect("just made a mapping")
}

/// Rewrites gadget.yaml (`text`, or nothing yet) so it agrees with `object`.
pub fn update(text: Option<&[u8]>, object: &GadgetObject, dir_name: &str) -> Result<Vec<u8>, serde_yaml::Error> {
    let mut root = match text {
        Some(t) if !t.iter().all(u8::is_ascii_whitespace) => serde_yaml::from_slice::<Value>(t)?,
        _ => Value::Mapping(Mapping::new()),
    };
    if !root.is_mapping() {
        root = Value::Mapping(Mapping::new());
    }
    let top = root.as_mapping_mut().expect("mapping");
    top.entry(key("name")).or_insert_with(|| key(dir_name));
    top.entry(key("description"))
        .or_insert_with(|| key("TODO: describe the gadget"));
    let declared = datasources(object);
    {
        let dss = mapping(top, "datasources");
        let stale: Vec<Value> = dss
            .keys()
            .filter(|k| !declared.iter().any(|(n, _)| k.as_str() == Some(n)))
            .cloned()
            .collect();
        for k in stale {
            tracing::warn!(datasource = ?k, "dropping a datasource the object does not declare");
            dss.remove(&k);
        }
        for (name, fields) in &declared {
            let ds = mapping(dss, name);
            let Some(fields) = fields else { continue };
            let rest = ds
                .get(key("annotations"))
                .and_then(|a| a.get("ebpf.rest.name"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let fm = mapping(ds, "fields");
            let stale: Vec<Value> = fm
                .keys()
                .filter(|k| {
                    let k = k.as_str().unwrap_or_default();
                    !fields.iter().any(|(f, _)| f == k) && rest.as_deref() != Some(k)
                })
                .cloned()
                .collect();
            for k in stale {
                tracing::warn!(datasource = %name, field = ?k, "dropping a field the struct does not have");
                fm.remove(&k);
            }
            for (f, hidden) in fields {
                if *hidden {
                    continue;
                }
                let entry = mapping(fm, f);
                let ann = mapping(entry, "annotations");
                ann.entry(key("description"))
                    .or_insert_with(|| key("TODO: Fill field description"));
            }
        }
    }
    let meta: GadgetMetadata = serde_yaml::from_value(root.clone()).unwrap_or_default();
    let defs = params::param_defs(object, &meta);
    let top = root.as_mapping_mut().expect("mapping");
    let params = mapping(top, "params");
    let ebpf = mapping(params, "ebpf");
    let stale: Vec<Value> = ebpf
        .keys()
        .filter(|k| !object.params.iter().any(|p| k.as_str() == Some(&p.var)))
        .cloned()
        .collect();
    for k in stale {
        ebpf.remove(&k);
    }
    for d in defs.iter().filter(|d| d.description.is_empty()) {
        let p = mapping(ebpf, &d.var);
        p.entry(key("key")).or_insert_with(|| key(&d.key));
        p.entry(key("description"))
            .or_insert_with(|| key("TODO: Fill parameter description"));
    }
    if ebpf.is_empty() {
        params.remove(key("ebpf"));
    }
    if params.is_empty() {
        top.remove(key("params"));
    }
    Ok(serde_yaml::to_string(&root)?.into_bytes())
}
