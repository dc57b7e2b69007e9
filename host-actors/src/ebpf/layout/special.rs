//! The ABI's structured special types: endpoints, IP addresses and user stacks.
//!
//! IG turns these structs into fields its formatters add beside the raw members, and gadget.yaml
//! files annotate those names, so rig creates the same ones:
//!
//! - `struct gadget_l4endpoint_t src` → `src` (text `1.2.3.4:80`; IPv6 without brackets, `::1:80`, as IG prints it)
//!   plus `src.addr` (IP text), `src.port`, `src.proto` (`TCP`, `UDP`, … from `src.proto_raw`)
//!   and `src.version`; the parts are left out of the default columns, where `src` stands for
//!   them (IG's `columns.replace`), and JSON nests them under `src` (the group shadows the text).
//! - `struct gadget_l3endpoint_t dst` → `dst` and `dst.addr` (IP text) plus `dst.version`.
//! - `union gadget_ip_addr_t x_raw` → one 16-byte field and its text companion `x`.
//! - `struct gadget_user_stack ustack` → its members, all hidden, plus `ustack.addresses`
//!   (hidden) and `ustack.symbols` (in JSON; in columns with `--fields`), filled by the stack
//!   enricher (`enrich/stacks.rs`).

use rig_kernel::schema::{Derivation, FieldKind, SchemaBuilder, Special, Storage};

use super::{LayoutError, Walker};

/// BTF name of the IP address union.
pub(super) const IP_ADDR_TYPE: &str = "gadget_ip_addr_t";
/// Its size: room for an IPv6 address.
pub(super) const IP_ADDR_SIZE: u32 = 16;
/// BTF name of the L3 endpoint struct.
const L3_ENDPOINT_TYPE: &str = "gadget_l3endpoint_t";
/// BTF name of the L4 endpoint struct.
const L4_ENDPOINT_TYPE: &str = "gadget_l4endpoint_t";
/// BTF name of the user stack struct.
const USER_STACK_TYPE: &str = "gadget_user_stack";

/// The meaning of a struct type name the ABI gives one.
pub(super) fn struct_special(name: &str) -> Option<Special> {
    match name {
        L3_ENDPOINT_TYPE => Some(Special::L3Endpoint),
        L4_ENDPOINT_TYPE => Some(Special::L4Endpoint),
        USER_STACK_TYPE => Some(Special::UserStack),
        _ => None,
    }
}

/// IG's trace_exec convention: a text member `X` with an integer member `X_size` beside it holds
/// `X_size` bytes of NUL-separated strings (its WASM module joins them with U+00A0). `X` becomes
/// the hidden `X_raw` and a derived `X` shows the joined list, so IG's gadget.yaml annotations for
/// `X` still apply.
pub(super) fn arg_lists(b: &mut SchemaBuilder) {
    let lists: Vec<_> = b
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.kind == FieldKind::Str && matches!(f.storage, Storage::Inline { .. }))
        .filter(|(_, f)| {
            b.find(&format!("{}_size", f.name))
                .is_some_and(|s| b.fields()[s.0 as usize].kind.is_integer())
        })
        .map(|(i, f)| (i, f.name.clone()))
        .collect();
    for (i, name) in lists {
        let source = rig_kernel::FieldId(i as u32);
        if b.find(&format!("{name}_raw")).is_some() {
            continue;
        }
        let f = b.field_mut(source);
        f.name = format!("{name}_raw");
        f.hidden = true;
        let id = b.heap(name, FieldKind::Str);
        b.field_mut(id).derived = Some(Derivation {
            source,
            special: Special::ArgList,
        });
    }
}

impl Walker<'_> {
    /// Walks a special struct member `name` (at byte `offset`) and adds the fields IG adds for it.
    pub(super) fn special_struct(
        &mut self,
        name: &str,
        base: u32,
        offset: u32,
        depth: usize,
    ) -> Result<(), LayoutError> {
        let btf = self.btf;
        let ty = btf.get(base);
        let Some(special) = struct_special(&ty.name) else {
            return Ok(());
        };
        // The endpoint's text sits where the struct is declared, as IG's column does.
        let text = match special {
            Special::UserStack => None,
            _ => Some(self.b.heap(name, FieldKind::Str)),
        };
        let first = self.b.fields().len();
        self.walk(base, &format!("{name}."), offset.saturating_mul(8), depth + 1)?;
        let parts: Vec<String> = self.b.fields()[first..].iter().map(|f| f.name.clone()).collect();
        let find = |this: &Self, member: &str| this.b.find(&format!("{name}.{member}"));
        if let Special::UserStack = special {
            for part in &parts {
                if let Some(id) = self.b.find(part) {
                    self.b.field_mut(id).hidden = true;
                }
            }
            let Some(stack_id) = find(self, "stack_id") else {
                tracing::warn!(
                    field = name,
                    "struct {USER_STACK_TYPE} without stack_id: its stack is not shown"
                );
                return Ok(());
            };
            for (member, hidden) in [("addresses", true), ("symbols", false)] {
                let id = self.b.heap(format!("{name}.{member}"), FieldKind::Str);
                let f = self.b.field_mut(id);
                f.hidden = hidden;
                // Frames are long: JSON shows them, columns only on request (`--fields`).
                f.annotations.insert("columns.hidden".into(), "true".into());
                f.tags.push(format!("type:{USER_STACK_TYPE}"));
                f.derived = Some(Derivation {
                    source: stack_id,
                    special: Special::UserStack,
                });
            }
            return Ok(());
        }
        self.columns_hidden.extend(parts);
        self.columns_hidden.push(format!("{name}.addr"));
        let (Some(text), Some(addr)) = (text, find(self, "addr_raw")) else {
            tracing::warn!(
                field = name,
                "struct {} without addr_raw: shown as its members",
                ty.name
            );
            return Ok(());
        };
        if let Some(proto) = find(self, "proto_raw") {
            self.b.field_mut(proto).hidden = true;
            self.companions
                .push((proto, format!("{name}.proto"), Special::Protocol));
            self.columns_hidden.push(format!("{name}.proto"));
        }
        let f = self.b.field_mut(text);
        f.tags.push(format!("type:{}", ty.name));
        if let Special::L4Endpoint = special {
            f.annotations.insert("template".into(), "l4endpoint".into());
        }
        f.derived = Some(Derivation { source: addr, special });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_beside_its_size_becomes_an_argument_list() {
        let mut b = SchemaBuilder::new("exec", 24);
        b.inline("args_size", FieldKind::U32, 0, 4);
        b.inline("args", FieldKind::Str, 4, 16);
        b.inline("comm", FieldKind::Str, 20, 4);
        arg_lists(&mut b);
        let s = b.build().unwrap();
        let raw = s.find("args_raw").unwrap();
        assert!(s.field(raw).hidden);
        let args = s.field(s.find("args").unwrap());
        assert!(matches!(&args.derived, Some(Derivation { source, special: Special::ArgList }) if *source == raw));
        assert!(s.find("comm_raw").is_none(), "a text without a size stays as it is");
    }
}
