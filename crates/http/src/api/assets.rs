//! Assets: create, list, read, edit, trash, restore, purge; the workspace's custom
//! asset fields; CSV import (all or nothing) and export (streamed).

use std::collections::BTreeMap;

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, patch, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workvault_domain::asset::{Asset, AssetField, AssetStatus};
use workvault_domain::id::AssetId;
use workvault_domain::service::AssetInput;

use super::{Reply, created, id};
use crate::AppState;
use crate::dto::{List, ListQuery, present};
use crate::problem::Problem;
use crate::session::Caller;

/// An asset's status.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusDto {
    /// In use (the default).
    InUse,
    /// In stock.
    InStock,
    /// Being repaired.
    InRepair,
    /// Retired.
    Retired,
    /// Lost or stolen.
    Lost,
}

impl From<StatusDto> for AssetStatus {
    fn from(s: StatusDto) -> Self {
        match s {
            StatusDto::InUse => AssetStatus::InUse,
            StatusDto::InStock => AssetStatus::InStock,
            StatusDto::InRepair => AssetStatus::InRepair,
            StatusDto::Retired => AssetStatus::Retired,
            StatusDto::Lost => AssetStatus::Lost,
        }
    }
}

impl From<AssetStatus> for StatusDto {
    fn from(s: AssetStatus) -> Self {
        match s {
            AssetStatus::InUse => StatusDto::InUse,
            AssetStatus::InStock => StatusDto::InStock,
            AssetStatus::InRepair => StatusDto::InRepair,
            AssetStatus::Retired => StatusDto::Retired,
            AssetStatus::Lost => StatusDto::Lost,
        }
    }
}

/// An asset as sent: on create `name` is required; on edit absent fields stay as they
/// are and `null` clears one (in `custom`, removes the value).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetIn {
    /// Name (1 to 200 characters).
    pub name: Option<String>,
    /// The team's own tag (asset number).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub tag: Option<Option<String>>,
    /// Serial number.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub serial: Option<Option<String>>,
    /// Category.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Status (`in_use` when not given on create).
    pub status: Option<StatusDto>,
    /// Where it is.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// Who has it: the email of a member of the workspace.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub assignee_email: Option<Option<String>>,
    /// When it was bought (`YYYY-MM-DD`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Date)]
    pub purchase_date: Option<Option<NaiveDate>>,
    /// What it cost, as a decimal string with at most two decimals (`"1234.50"`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub cost: Option<Option<String>>,
    /// Notes (up to 10,000 characters).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// Values of the workspace's custom fields, by key (up to 500 characters each).
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, Option<String>>)]
    pub custom: BTreeMap<String, Option<String>>,
}

impl From<AssetIn> for AssetInput {
    fn from(b: AssetIn) -> Self {
        AssetInput {
            name: b.name,
            tag: b.tag,
            serial: b.serial,
            category: b.category,
            status: b.status.map(Into::into),
            location: b.location,
            assignee_email: b.assignee_email,
            purchase_date: b.purchase_date,
            cost: b.cost,
            notes: b.notes,
            custom: b.custom,
        }
    }
}

/// An asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetOut {
    /// Asset id.
    pub id: String,
    /// Workspace id.
    pub workspace_id: String,
    /// Name.
    pub name: String,
    /// Tag.
    pub tag: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Status.
    pub status: StatusDto,
    /// Location.
    pub location: Option<String>,
    /// The member who has it.
    pub assignee_id: Option<String>,
    /// Their email.
    pub assignee_email: Option<String>,
    /// Purchase date.
    pub purchase_date: Option<NaiveDate>,
    /// Cost (`"1234.50"`).
    pub cost: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Custom values by key.
    pub custom: BTreeMap<String, String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// In trash since.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Asset> for AssetOut {
    fn from(a: Asset) -> Self {
        let r = a.record;
        let s = |v: Option<workvault_domain::text::Name>| v.map(String::from);
        AssetOut {
            id: a.id.to_string(),
            workspace_id: a.workspace_id.to_string(),
            name: r.name.into(),
            tag: s(r.tag),
            serial: s(r.serial),
            category: s(r.category),
            status: r.status.into(),
            location: s(r.location),
            assignee_id: r.assignee.map(|u| u.to_string()),
            assignee_email: a.assignee_email.map(String::from),
            purchase_date: r.purchase_date,
            cost: r.cost.map(|c| c.to_string()),
            notes: r.notes.map(String::from),
            custom: r.custom.into_iter().map(|(k, v)| (String::from(k), v)).collect(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            deleted_at: a.deleted_at,
        }
    }
}

/// A custom asset field.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldIn {
    /// The key: 1 to 40 of `a-z`, `0-9`, `_`, starting with a letter (CSV column
    /// `custom.<key>`).
    pub key: String,
    /// The label people see.
    pub label: String,
}

/// A custom asset field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldOut {
    /// The key.
    pub key: String,
    /// The label.
    pub label: String,
    /// Defined at.
    pub created_at: DateTime<Utc>,
}

impl From<AssetField> for FieldOut {
    fn from(f: AssetField) -> Self {
        FieldOut { key: f.key.into(), label: f.label.into(), created_at: f.created_at }
    }
}

/// The custom fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldsOut {
    /// In key order.
    pub items: Vec<FieldOut>,
}

fn asset_id(raw: &str) -> Result<AssetId, crate::problem::ApiError> {
    id(raw, "asset")
}

/// Creates an asset (Owner, Admin, Member).
#[utoipa::path(tag = "assets", params(("ws" = String, Path)), request_body = AssetIn, responses(
    (status = 201, body = AssetOut, headers(("Location" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/assets")]
pub async fn create(state: Data<AppState>, caller: Caller, path: Path<String>, body: Json<AssetIn>) -> Reply {
    let ws = id(&path, "workspace")?;
    let asset = state.app.create_asset(&caller.ctx, ws, body.into_inner().into()).await?;
    Ok(created(format!("/api/v1/workspaces/{ws}/assets/{}", asset.id), &AssetOut::from(asset)))
}

/// The live assets, newest first (Owner, Admin, Member).
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ListQuery), responses(
    (status = 200, body = List<AssetOut>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/assets")]
pub async fn list(state: Data<AppState>, caller: Caller, path: Path<String>, q: Query<ListQuery>) -> Reply {
    let ws = id(&path, "workspace")?;
    let page = state.app.assets(&caller.ctx, ws, q.page()?).await?;
    Ok(HttpResponse::Ok().json(List::page(page, AssetOut::from)))
}

/// One asset.
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ("asset" = String, Path)), responses(
    (status = 200, body = AssetOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/assets/{asset}")]
pub async fn show(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, asset) = (id(&path.0, "workspace")?, asset_id(&path.1)?);
    Ok(HttpResponse::Ok().json(AssetOut::from(state.app.asset(&caller.ctx, ws, asset).await?)))
}

/// Edits an asset (Owner, Admin, Member).
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ("asset" = String, Path)), request_body = AssetIn, responses(
    (status = 200, body = AssetOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/workspaces/{ws}/assets/{asset}")]
pub async fn update(state: Data<AppState>, caller: Caller, path: Path<(String, String)>, body: Json<AssetIn>) -> Reply {
    let (ws, asset) = (id(&path.0, "workspace")?, asset_id(&path.1)?);
    let updated = state.app.update_asset(&caller.ctx, ws, asset, body.into_inner().into()).await?;
    Ok(HttpResponse::Ok().json(AssetOut::from(updated)))
}

/// Moves an asset to trash (Owner, Admin).
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ("asset" = String, Path)), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/assets/{asset}")]
pub async fn trash(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, asset) = (id(&path.0, "workspace")?, asset_id(&path.1)?);
    state.app.trash_asset(&caller.ctx, ws, asset).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Takes an asset out of the trash (Owner, Admin).
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ("asset" = String, Path)), responses(
    (status = 200, body = AssetOut),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/assets/{asset}/restore")]
pub async fn restore(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, asset) = (id(&path.0, "workspace")?, asset_id(&path.1)?);
    Ok(HttpResponse::Ok().json(AssetOut::from(state.app.restore_asset(&caller.ctx, ws, asset).await?)))
}

/// Deletes a trashed asset for good (Owner, Admin).
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ("asset" = String, Path)), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/assets/{asset}/purge")]
pub async fn purge(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let (ws, asset) = (id(&path.0, "workspace")?, asset_id(&path.1)?);
    state.app.purge_asset(&caller.ctx, ws, asset).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The workspace's custom asset fields (Owner, Admin, Member).
#[utoipa::path(tag = "assets", params(("ws" = String, Path)), responses(
    (status = 200, body = FieldsOut),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/workspaces/{ws}/asset-fields")]
pub async fn fields(state: Data<AppState>, caller: Caller, path: Path<String>) -> Reply {
    let ws = id(&path, "workspace")?;
    let items = state.app.asset_fields(&caller.ctx, ws).await?.into_iter().map(FieldOut::from).collect();
    Ok(HttpResponse::Ok().json(FieldsOut { items }))
}

/// Defines a custom asset field (Owner, Admin; at most 50).
#[utoipa::path(tag = "assets", params(("ws" = String, Path)), request_body = FieldIn, responses(
    (status = 201, body = FieldOut, headers(("Location" = String))),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/workspaces/{ws}/asset-fields")]
pub async fn create_field(state: Data<AppState>, caller: Caller, path: Path<String>, body: Json<FieldIn>) -> Reply {
    let ws = id(&path, "workspace")?;
    let f = state.app.create_asset_field(&caller.ctx, ws, &body.key, &body.label).await?;
    Ok(created(format!("/api/v1/workspaces/{ws}/asset-fields/{}", f.key.as_str()), &FieldOut::from(f)))
}

/// Removes a custom asset field and every asset's value for it (Owner, Admin).
#[utoipa::path(tag = "assets", params(("ws" = String, Path), ("key" = String, Path)), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/workspaces/{ws}/asset-fields/{key}")]
pub async fn delete_field(state: Data<AppState>, caller: Caller, path: Path<(String, String)>) -> Reply {
    let ws = id(&path.0, "workspace")?;
    state.app.delete_asset_field(&caller.ctx, ws, &path.1).await?;
    Ok(HttpResponse::NoContent().finish())
}
