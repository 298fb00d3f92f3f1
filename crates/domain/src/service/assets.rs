//! Asset use cases. Assets are records of the workspace as a whole (not of a job):
//! Members list, read, create and edit them; Admins and the Owner also trash, restore
//! and purge them, define custom fields, import and export. Restricted members see
//! none.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use serde_json::json;

use super::{Ctx, Workvault};
use crate::asset::{
    Asset, AssetField, AssetFields, AssetRecord, AssetStatus, Cents, CustomValues, FieldKey, MAX_CUSTOM_VALUE,
    MAX_FIELDS,
};
use crate::error::{Error, field};
use crate::id::{AssetId, UserId, WorkspaceId};
use crate::page::{Page, PageRequest};
use crate::policy::{Action, ActorFacts, ResourceFacts, decide};
use crate::text::{Email, LongText, Name};

/// An asset's fields as a caller sends them (create), or the fields to change (edit:
/// `None` leaves a field, `Some(None)` clears it; a custom value of `None` removes it).
#[derive(Debug, Clone, Default)]
pub struct AssetInput {
    /// Name (required on create).
    pub name: Option<String>,
    /// Tag.
    pub tag: Option<Option<String>>,
    /// Serial number.
    pub serial: Option<Option<String>>,
    /// Category.
    pub category: Option<Option<String>>,
    /// Status.
    pub status: Option<AssetStatus>,
    /// Location.
    pub location: Option<Option<String>>,
    /// The assignee's email (a member of the workspace).
    pub assignee_email: Option<Option<String>>,
    /// Purchase date.
    pub purchase_date: Option<Option<NaiveDate>>,
    /// Cost, as a decimal string (`1234.50`).
    pub cost: Option<Option<String>>,
    /// Notes.
    pub notes: Option<Option<String>>,
    /// Custom values by key.
    pub custom: BTreeMap<String, Option<String>>,
}

fn opt<T>(
    v: Option<Option<String>>,
    name: &'static str,
    parse: impl Fn(&str) -> Result<T, Error>,
) -> Result<Option<Option<T>>, Error> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Some(s)) => parse(&s).map(|t| Some(Some(t))).map_err(|e| match e {
            Error::Invalid { problem, .. } => Error::Invalid { field: name, problem },
            other => other,
        }),
    }
}

fn short_text(s: &str) -> Result<Name, Error> {
    Name::parse(s).map_err(field("value"))
}

/// Checks one custom value against the workspace's keys.
pub(super) fn custom_value(keys: &BTreeSet<FieldKey>, key: &str, value: &str) -> Result<(FieldKey, String), Error> {
    let key = FieldKey::parse(key)
        .filter(|k| keys.contains(k))
        .ok_or_else(|| Error::invalid("custom", format!("no custom field `{key}` is defined")))?;
    let value = value.trim();
    if value.chars().count() > MAX_CUSTOM_VALUE {
        return Err(Error::invalid(
            "custom",
            format!("`{}` is longer than {MAX_CUSTOM_VALUE} characters", key.as_str()),
        ));
    }
    if !crate::asset::custom_text_ok(value) {
        return Err(Error::invalid("custom", format!("`{}` holds control characters", key.as_str())));
    }
    Ok((key, value.to_owned()))
}

impl AssetInput {
    /// Applies the input to `base` (a new asset's empty record, or the current one).
    fn apply(
        self,
        base: Option<&AssetRecord>,
        keys: &BTreeSet<FieldKey>,
        members: &HashMap<Email, UserId>,
    ) -> Result<AssetRecord, Error> {
        let name = match (self.name, base) {
            (Some(n), _) => Name::parse(&n).map_err(field("name"))?,
            (None, Some(b)) => b.name.clone(),
            (None, None) => return Err(Error::invalid("name", "is required")),
        };
        let keep = |v: Option<Option<Name>>, old: Option<&Option<Name>>| v.unwrap_or_else(|| old.cloned().flatten());
        let assignee = match opt(self.assignee_email, "assignee_email", |s| Email::parse(s).map_err(field("x")))? {
            None => base.and_then(|b| b.assignee),
            Some(None) => None,
            Some(Some(email)) => Some(
                *members
                    .get(&email)
                    .ok_or_else(|| Error::invalid("assignee_email", "is not a member of this workspace"))?,
            ),
        };
        let mut custom: CustomValues = base.map(|b| b.custom.clone()).unwrap_or_default();
        for (key, value) in self.custom {
            match value.filter(|v| !v.trim().is_empty()) {
                Some(v) => {
                    let (k, v) = custom_value(keys, &key, &v)?;
                    custom.insert(k, v);
                }
                None => {
                    custom.retain(|k, _| k.as_str() != key);
                }
            }
        }
        Ok(AssetRecord {
            name,
            tag: keep(opt(self.tag, "tag", short_text)?, base.map(|b| &b.tag)),
            serial: keep(opt(self.serial, "serial", short_text)?, base.map(|b| &b.serial)),
            category: keep(opt(self.category, "category", short_text)?, base.map(|b| &b.category)),
            status: self.status.or(base.map(|b| b.status)).unwrap_or(AssetStatus::InUse),
            location: keep(opt(self.location, "location", short_text)?, base.map(|b| &b.location)),
            assignee,
            purchase_date: match self.purchase_date {
                Some(Some(d)) if !crate::asset::date_in_range(d) => {
                    return Err(Error::invalid("purchase_date", "must be between the years 1000 and 9999"));
                }
                Some(d) => d,
                None => base.and_then(|b| b.purchase_date),
            },
            cost: match opt(self.cost, "cost", |s| Cents::parse(s).map_err(|e| Error::invalid("cost", e)))? {
                Some(c) => c,
                None => base.and_then(|b| b.cost),
            },
            notes: match opt(self.notes, "notes", |s| LongText::parse(s).map_err(field("notes")))? {
                Some(n) => n,
                None => base.and_then(|b| b.notes.clone()),
            },
            custom,
        })
    }
}

/// Turns validated CSV fields into a record, resolving the assignee.
pub(super) fn record_of(fields: AssetFields, members: &HashMap<Email, UserId>) -> Result<AssetRecord, Email> {
    let assignee = match fields.assignee_email {
        Some(email) => Some(*members.get(&email).ok_or(email)?),
        None => None,
    };
    Ok(AssetRecord {
        name: fields.name,
        tag: fields.tag,
        serial: fields.serial,
        category: fields.category,
        status: fields.status.unwrap_or(AssetStatus::InUse),
        location: fields.location,
        assignee,
        purchase_date: fields.purchase_date,
        cost: fields.cost,
        notes: fields.notes,
        custom: fields.custom,
    })
}

impl Workvault {
    /// The workspace's members by email (to resolve assignees).
    pub(super) async fn member_emails(&self, ws: WorkspaceId) -> Result<HashMap<Email, UserId>, Error> {
        let mut out = HashMap::new();
        let mut page = PageRequest { limit: crate::page::MAX_LIMIT, after: None };
        loop {
            let members = self.store.members(ws, page).await?;
            out.extend(members.items.into_iter().map(|m| (m.email, m.membership.user_id)));
            match members.next {
                Some(next) => page.after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// The keys of the workspace's custom fields.
    pub(super) async fn field_keys(&self, ws: WorkspaceId) -> Result<BTreeSet<FieldKey>, Error> {
        Ok(self.store.asset_fields(ws).await?.into_iter().map(|f| f.key).collect())
    }

    async fn authorize_asset(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: AssetId,
        action: Action,
        trashed: bool,
    ) -> Result<Asset, Error> {
        let (asset, role) = self.store.asset_for(ctx.user, ws, id, trashed).await?.ok_or(Error::NotFound)?;
        decide(ActorFacts { role: Some(role) }, action, ResourceFacts::Workspace)
            .into_result()
            .map_err(Error::denied)?;
        Ok(asset)
    }

    /// The workspace's custom asset fields.
    pub async fn asset_fields(&self, ctx: &Ctx, ws: WorkspaceId) -> Result<Vec<AssetField>, Error> {
        self.authorize_workspace(ctx, ws, Action::ViewAssets).await?;
        Ok(self.store.asset_fields(ws).await?)
    }

    /// Defines a custom asset field.
    pub async fn create_asset_field(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        key: &str,
        label: &str,
    ) -> Result<AssetField, Error> {
        let key = FieldKey::parse(key)
            .ok_or_else(|| Error::invalid("key", "must be 1 to 40 of a-z, 0-9 and _, starting with a letter"))?;
        let label = Name::parse(label).map_err(field("label"))?;
        self.authorize_workspace(ctx, ws, Action::UpdateWorkspace).await?;
        if self.store.asset_fields(ws).await?.len() >= MAX_FIELDS {
            return Err(Error::invalid("key", format!("a workspace defines at most {MAX_FIELDS} custom fields")));
        }
        let f = AssetField { workspace_id: ws, key, label, created_at: self.now() };
        let details = json!({"key": f.key.as_str(), "label": f.label});
        let audit = self.audit(ctx, ws, "asset_field.created", ("asset_field", f.key.as_str().to_owned()), details);
        self.store.create_asset_field(&f, audit).await.map_err(|e| match Error::from(e) {
            Error::Conflict(_) => Error::Conflict("a custom field with this key exists already"),
            other => other,
        })?;
        Ok(f)
    }

    /// Removes a custom asset field and its values.
    pub async fn delete_asset_field(&self, ctx: &Ctx, ws: WorkspaceId, key: &str) -> Result<(), Error> {
        let key = FieldKey::parse(key).ok_or(Error::NotFound)?;
        self.authorize_workspace(ctx, ws, Action::UpdateWorkspace).await?;
        let audit = self.audit(ctx, ws, "asset_field.deleted", ("asset_field", key.as_str().to_owned()), json!({}));
        Ok(self.store.delete_asset_field(ws, &key, audit).await?)
    }

    /// Creates an asset.
    pub async fn create_asset(&self, ctx: &Ctx, ws: WorkspaceId, input: AssetInput) -> Result<Asset, Error> {
        self.authorize_workspace(ctx, ws, Action::EditAssets).await?;
        let (keys, members) = (self.field_keys(ws).await?, self.member_emails(ws).await?);
        let record = input.apply(None, &keys, &members)?;
        let now = self.now();
        let assignee_email = assignee_email(&record, &members);
        let asset = Asset {
            id: AssetId::generate(&*self.clock, &*self.rng),
            workspace_id: ws,
            record,
            assignee_email,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let details = json!({"name": asset.record.name});
        let audit = self.audit(ctx, ws, "asset.created", ("asset", asset.id.to_string()), details);
        self.store.create_asset(&asset, audit).await?;
        Ok(asset)
    }

    /// The live assets, newest first.
    pub async fn assets(&self, ctx: &Ctx, ws: WorkspaceId, page: PageRequest) -> Result<Page<Asset>, Error> {
        let (role, assets) = self.store.assets_for(ctx.user, ws, page).await?.ok_or(Error::NotFound)?;
        decide(ActorFacts { role: Some(role) }, Action::ViewAssets, ResourceFacts::Workspace)
            .into_result()
            .map_err(Error::denied)?;
        Ok(assets)
    }

    /// One asset.
    pub async fn asset(&self, ctx: &Ctx, ws: WorkspaceId, id: AssetId) -> Result<Asset, Error> {
        self.authorize_asset(ctx, ws, id, Action::ViewAssets, false).await
    }

    /// Edits an asset; returns its new state.
    pub async fn update_asset(
        &self,
        ctx: &Ctx,
        ws: WorkspaceId,
        id: AssetId,
        input: AssetInput,
    ) -> Result<Asset, Error> {
        let current = self.authorize_asset(ctx, ws, id, Action::EditAssets, false).await?;
        let (keys, members) = (self.field_keys(ws).await?, self.member_emails(ws).await?);
        let record = input.apply(Some(&current.record), &keys, &members)?;
        if record == current.record {
            return Ok(current);
        }
        let assignee_email = match record.assignee {
            a if a == current.record.assignee => current.assignee_email.clone(),
            _ => assignee_email(&record, &members),
        };
        let updated = Asset { record, assignee_email, updated_at: self.now(), ..current.clone() };
        let audit =
            self.audit(ctx, ws, "asset.updated", ("asset", id.to_string()), json!({"name": updated.record.name}));
        self.store.update_asset(&updated, current.updated_at, audit).await?;
        Ok(updated)
    }

    /// Moves an asset to trash.
    pub async fn trash_asset(&self, ctx: &Ctx, ws: WorkspaceId, id: AssetId) -> Result<(), Error> {
        self.authorize_asset(ctx, ws, id, Action::DeleteAssets, false).await?;
        let audit = self.audit(ctx, ws, "asset.trashed", ("asset", id.to_string()), json!({}));
        Ok(self.store.trash_asset(ws, id, self.now(), audit).await?)
    }

    /// Takes an asset out of the trash.
    pub async fn restore_asset(&self, ctx: &Ctx, ws: WorkspaceId, id: AssetId) -> Result<Asset, Error> {
        let asset = self.authorize_asset(ctx, ws, id, Action::DeleteAssets, true).await?;
        let audit = self.audit(ctx, ws, "asset.restored", ("asset", id.to_string()), json!({}));
        self.store.restore_asset(ws, id, audit).await?;
        Ok(Asset { deleted_at: None, ..asset })
    }

    /// Deletes a trashed asset for good.
    pub async fn purge_asset(&self, ctx: &Ctx, ws: WorkspaceId, id: AssetId) -> Result<(), Error> {
        self.authorize_asset(ctx, ws, id, Action::DeleteAssets, true).await?;
        let audit = self.audit(ctx, ws, "asset.purged", ("asset", id.to_string()), json!({}));
        Ok(self.store.purge_asset(ws, id, audit).await?)
    }
}

fn assignee_email(record: &AssetRecord, members: &HashMap<Email, UserId>) -> Option<Email> {
    let id = record.assignee?;
    members.iter().find(|(_, u)| **u == id).map(|(e, _)| e.clone())
}
