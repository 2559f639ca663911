//! Record-level pseudonymisation: a service sends whole JSON records and the
//! name of a stored policy; the vault replaces the identifier fields with pseudonyms (or, for a
//! purpose, pseudonyms with identifiers) and drops the fields the policy names. The JSON work is
//! the pure `engine::record`; the pseudonyms and verdicts come from the very same batch
//! operations as `Pseudonymise` and `ReIdentify`, so the rules, limits and audit are theirs.

use std::{collections::BTreeMap, ops::Range, sync::Arc};

use super::{check_batch, find_domain, pseudonymise, reidentify};
use crate::{
    app::App,
    authz::Caller,
    engine::{
        consent::Verdict,
        date::Date,
        identifier::normalise,
        record::{Compiled, FieldError, Pattern, Plan, plan, splice},
    },
    error::{VaultError, VaultResult},
    store::records::{RecordPolicyRecord, Role},
};

/// A refused record: each field that broke a rule (pointer in the record, rule).
pub type RecordErrors = Vec<FieldError>;

/// The outcome of `PseudonymiseRecords`.
#[derive(Debug)]
pub struct RecordsPseudonymised {
    /// One per record, in order: the rewritten record or why it was refused.
    pub results: Vec<Result<String, RecordErrors>>,
    /// New mappings stored.
    pub created: u32,
}

/// One record's outcome of `ReIdentifyRecords`.
#[derive(Debug)]
pub struct RecordReIdentified {
    /// The record with released fields restored, or why it could not be read.
    pub record: Result<String, RecordErrors>,
    /// (pointer, verdict, old epoch) per field of a reversible domain, in document order.
    pub fields: Vec<(String, Verdict, bool)>,
}

async fn find_policy(app: &App, tenant_id: u64, name: &str) -> VaultResult<RecordPolicyRecord> {
    if name.is_empty() {
        return Err(VaultError::invalid("policy", "must not be empty"));
    }
    app.record_policy(tenant_id, name)
        .await?
        .ok_or_else(|| VaultError::NotFound("policy: no such record policy in this tenant".into()))
}

fn compile(policy: &RecordPolicyRecord, with_drops: bool) -> VaultResult<Compiled> {
    let parse = |p: &str| {
        Pattern::parse(p)
            .map_err(|_| VaultError::Internal("stored record policy is invalid".into()))
    };
    let fields = policy
        .fields
        .iter()
        .map(|f| Ok((parse(&f.pointer)?, f.required)))
        .collect::<VaultResult<Vec<_>>>()?;
    let drops = if with_drops {
        policy
            .drop
            .iter()
            .map(|d| parse(d))
            .collect::<VaultResult<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Ok(Compiled::new(fields, drops))
}

/// A record read against the policy: its text and what to change, or why it is refused.
type Planned = Result<(String, Plan), RecordErrors>;

/// Reads every record: UTF-8, one JSON document, fields of the right type.
fn plan_all(records: Vec<Vec<u8>>, policy: &Compiled) -> Vec<Planned> {
    records
        .into_iter()
        .map(|bytes| {
            let doc = String::from_utf8(bytes).map_err(|_| {
                vec![FieldError {
                    pointer: String::new(),
                    rule: "must be UTF-8 JSON".into(),
                }]
            })?;
            let plan = plan(&doc, policy)?;
            Ok((doc, plan))
        })
        .collect()
}

/// The hits of the readable records grouped by domain: domain → [(record, hit)].
fn by_domain(
    planned: &[Planned],
    policy: &RecordPolicyRecord,
) -> BTreeMap<String, Vec<(usize, usize)>> {
    let mut groups: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (r, item) in planned.iter().enumerate() {
        if let Ok((_, plan)) = item {
            for (h, hit) in plan.hits.iter().enumerate() {
                let domain = policy.fields[hit.rule].domain.clone();
                groups.entry(domain).or_default().push((r, h));
            }
        }
    }
    groups
}

/// The values of `chunk`'s hits, in order. Grouping took only readable records, and a record
/// refused while its batch runs is only marked after the batch, so every hit is found.
fn hit_values(planned: &[Planned], chunk: &[(usize, usize)]) -> Vec<String> {
    chunk
        .iter()
        .filter_map(|&(r, h)| {
            planned[r]
                .as_ref()
                .ok()
                .map(|(_, p)| p.hits[h].value.clone())
        })
        .collect()
}

/// Adds `error` to a record's refusal (the first one turns the record into a refusal).
fn refuse(record: &mut Planned, error: FieldError) {
    match record {
        Err(errors) => errors.push(error),
        slot => *slot = Err(vec![error]),
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// Pseudonymises the identifier fields of `records` under the tenant's policy `policy_name`.
pub async fn pseudonymise_records(
    app: &Arc<App>,
    caller: &Caller,
    policy_name: &str,
    records: Vec<Vec<u8>>,
) -> VaultResult<RecordsPseudonymised> {
    let tenant_id = caller.tenant_with(Role::Tokenizer)?;
    check_batch(app, "records", records.len())?;
    let policy = find_policy(app, tenant_id, policy_name).await?;
    let compiled = compile(&policy, true)?;
    let mut planned = plan_all(records, &compiled);
    let groups = by_domain(&planned, &policy);

    // Check every identifier before any mapping is made, so a refused record leaves no trace.
    let today = Date::from_unix_ms(app.now_ms());
    for (name, hits) in &groups {
        let domain = find_domain(app, tenant_id, name).await?;
        for &(r, h) in hits {
            let Ok((_, plan)) = &planned[r] else { continue };
            let hit = &plan.hits[h];
            if let Err(rule) = normalise(
                domain.kind,
                &hit.value,
                today,
                app.limits.max_identifier_bytes,
            ) {
                let error = FieldError {
                    pointer: hit.pointer.clone(),
                    rule: rule.to_string(),
                };
                refuse(&mut planned[r], error);
            }
        }
    }

    let mut edits: Vec<Vec<(Range<usize>, String)>> = planned
        .iter()
        .map(|p| match p {
            Ok((_, plan)) => plan
                .drops
                .iter()
                .map(|r| (r.clone(), String::new()))
                .collect(),
            Err(_) => Vec::new(),
        })
        .collect();
    let mut created = 0;
    let mut late: Vec<(usize, FieldError)> = Vec::new();
    for (name, hits) in by_domain(&planned, &policy) {
        for chunk in hits.chunks(app.limits.max_batch) {
            let values = hit_values(&planned, chunk);
            let out = pseudonymise::pseudonymise(app, caller, &name, values).await?;
            created += out.created;
            for (&(r, h), result) in chunk.iter().zip(out.results) {
                let Ok((_, plan)) = &planned[r] else { continue };
                let hit = &plan.hits[h];
                match result {
                    Ok(pseudonym) => edits[r].push((hit.range.clone(), json_string(&pseudonym))),
                    // Checked above; kept for safety: the record is refused.
                    Err(rule) => late.push((
                        r,
                        FieldError {
                            pointer: hit.pointer.clone(),
                            rule,
                        },
                    )),
                }
            }
        }
    }
    for (r, error) in late {
        refuse(&mut planned[r], error);
    }
    let results = planned
        .into_iter()
        .zip(edits)
        .map(|(p, e)| p.map(|(doc, _)| splice(&doc, e)))
        .collect();
    Ok(RecordsPseudonymised { results, created })
}

/// Re-identifies the pseudonymised fields of `records` for `purpose`, field by field.
pub async fn reidentify_records(
    app: &Arc<App>,
    caller: &Caller,
    policy_name: &str,
    purpose: &str,
    records: Vec<Vec<u8>>,
) -> VaultResult<Vec<RecordReIdentified>> {
    let tenant_id = caller.tenant_with(Role::Reidentifier)?;
    check_batch(app, "records", records.len())?;
    if purpose.is_empty() {
        return Err(VaultError::invalid("purpose", "must not be empty"));
    }
    let policy = find_policy(app, tenant_id, policy_name).await?;
    let compiled = compile(&policy, false)?;
    let planned = plan_all(records, &compiled);
    let mut edits: Vec<Vec<(Range<usize>, String)>> = vec![Vec::new(); planned.len()];
    let mut verdicts: Vec<Vec<Option<(Verdict, bool)>>> = planned
        .iter()
        .map(|p| {
            p.as_ref()
                .map_or(Vec::new(), |(_, plan)| vec![None; plan.hits.len()])
        })
        .collect();
    for (name, hits) in by_domain(&planned, &policy) {
        if !find_domain(app, tenant_id, &name).await?.reversible {
            continue;
        }
        for chunk in hits.chunks(app.limits.max_batch) {
            let pseudonyms = hit_values(&planned, chunk);
            let out = reidentify::reidentify(app, caller, &name, purpose, pseudonyms).await?;
            for (&(r, h), item) in chunk.iter().zip(out) {
                let Ok((_, plan)) = &planned[r] else { continue };
                if let Some(identifier) = &item.identifier {
                    edits[r].push((plan.hits[h].range.clone(), json_string(identifier)));
                }
                verdicts[r][h] = Some((item.verdict, item.old_epoch));
            }
        }
    }
    Ok(planned
        .into_iter()
        .zip(edits)
        .zip(verdicts)
        .map(|((p, e), v)| match p {
            Ok((doc, plan)) => RecordReIdentified {
                fields: plan
                    .hits
                    .iter()
                    .zip(v)
                    .filter_map(|(hit, v)| {
                        v.map(|(verdict, old)| (hit.pointer.clone(), verdict, old))
                    })
                    .collect(),
                record: Ok(splice(&doc, e)),
            },
            Err(errors) => RecordReIdentified {
                record: Err(errors),
                fields: Vec::new(),
            },
        })
        .collect())
}
