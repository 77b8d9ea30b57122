//! The OpenAPI document of the partner API, served at `GET /api/v1/openapi.json`.

use super::api::v1::{
    ai, ai_agents, auth, canned_responses, channels, conversations, goals, insights, journeys,
    knowledge, media, notes, notifications, organization, pairing, sms, templates, test_sessions,
    users, webchat_identity,
};
use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Parley partner API", description = "Channels, conversations, bot journeys, goals and team members of one organisation. Authenticate with `Authorization: Bearer <api key>`."),
    paths(
        channels::create, channels::list, channels::read, channels::update, channels::delete,
        channels::reconnect, channels::disconnect, channels::activate, channels::deactivate,
        channels::stats, crate::http::oauth::start, super::api::v1::email::verify,
        templates::sync, templates::list, templates::list_mappings, templates::create_mapping,
        templates::read_mapping, templates::update_mapping, templates::delete_mapping,
        templates::post_event, sms::count, sms::send, pairing::qr, webchat_identity::rotate,
        conversations::list, conversations::read, conversations::messages, conversations::thread,
        conversations::mark_read, conversations::event,
        conversations::reply, conversations::claim, conversations::take_over, conversations::assign,
        conversations::resolve, conversations::hand_back, conversations::close,
        conversations::archive, conversations::reopen, conversations::update,
        conversations::delete, media::media, media::attach,
        notes::create, notes::list, notes::update, notes::delete,
        insights::generate, insights::read,
        auth::login, auth::logout, auth::me,
        notifications::list, notifications::read, notifications::read_all,
        canned_responses::create, canned_responses::list, canned_responses::read,
        canned_responses::update, canned_responses::delete,
        organization::read, organization::update,
        ai::read_settings, ai::put_settings, ai::delete_settings, ai::usage, ai::understand,
        ai_agents::create, ai_agents::list, ai_agents::read, ai_agents::update, ai_agents::delete,
        knowledge::create, knowledge::list, knowledge::read, knowledge::update, knowledge::delete,
        knowledge::search,
        journeys::list, journeys::create, journeys::import, journeys::read, journeys::update,
        journeys::delete, journeys::deploy, journeys::undeploy, journeys::clone, journeys::export,
        journeys::versions, journeys::rollback, journeys::list_variables,
        journeys::create_variable, journeys::update_variable, journeys::delete_variable,
        journeys::read_assignment, journeys::assign, journeys::unassign,
        users::create, users::list, users::read, users::update,
        test_sessions::create, test_sessions::read, test_sessions::delete, test_sessions::message,
        test_sessions::event, test_sessions::fire_timer, test_sessions::connect,
        goals::create, goals::list, goals::read,
        goals::update, goals::add_milestone,
        goals::update_milestone, goals::events,
        goals::stats,
    ),
    components(schemas(
        channels::ChannelView, channels::ChannelList, channels::ChannelStatsView,
        crate::store::ChannelStats, crate::store::Setup, crate::http::oauth::ConsentStart,
        templates::TemplateList, templates::MappingList, templates::EventSent,
        sms::SmsSent, webchat_identity::IdentitySecret, pairing::QrView, crate::adapters::evolution::Qr, crate::adapters::twilio::segments::SegmentCount,
        crate::adapters::twilio::segments::Encoding,
        crate::store::templates::TemplateRecord, crate::store::templates::MappingRecord,
        conversations::ConversationList, conversations::MessageList,
        conversations::Thread, conversations::ThreadDay, conversations::ReadMark,
        crate::store::conversations::ConversationSummary, crate::store::conversations::LastMessage,
        organization::OrganizationView,
        ai::AiSettingsView, ai::AiUsageView, ai::UnderstandingView, crate::store::ai::AiUsageRecord,
        ai_agents::AiAgentList, crate::store::ai_agents::AiAgentRecord,
        knowledge::DocumentList, knowledge::SearchHit, knowledge::SearchResult,
        crate::store::knowledge::DocumentRecord,
        notes::NoteList, crate::store::notes::NoteRecord,
        insights::InsightAnswer, crate::store::insights::InsightRecord,
        crate::ai::insights::SentimentLabel,
        auth::LoginView, notifications::NotificationList,
        notifications::MarkedRead, crate::store::notifications::NotificationRecord,
        canned_responses::CannedResponseList, crate::store::canned::CannedResponseRecord,
        journeys::JourneyView, journeys::JourneySummary, journeys::JourneyList,
        journeys::VersionView, journeys::VersionList, journeys::AssignmentView,
        users::UserView, users::UserList,
        test_sessions::CreatedView, crate::actors::test_chat::TestSessionView,
        crate::actors::test_chat::TurnView, crate::actors::test_chat::TranscriptEntry,
        crate::actors::test_chat::TestState,
        goals::GoalList, goals::GoalEventList,
        goals::GoalStats, goals::MilestoneStats,
        goals::DayCount, crate::store::goals::GoalRecord,
        crate::store::goals::MilestoneRecord, crate::store::goals::GoalEventRecord,
        super::error::ErrorBody, super::error::ErrorDetail, super::error::Code,
    )),
    modifiers(&ApiKeyAuth),
    tags(
        (name = "channels", description = "Messaging channels of the organisation: added with credentials or through Meta's consent, reconnected in place, switched on and off, disconnected, and their statistics"),
        (name = "templates", description = "WhatsApp templates synced from Meta, events mapped to them, and events that send them"),
        (name = "conversations", description = "Conversations and their messages"),
        (name = "organization", description = "Organisation settings"),
        (name = "journeys", description = "Bot journeys: drafts, deployed versions, variables, channel assignment and test chat"),
        (name = "auth", description = "Console log-in sessions"),
        (name = "notifications", description = "The caller's notifications"),
        (name = "canned_responses", description = "Saved replies agents insert in the composer, found by shortcut, text or category"),
        (name = "users", description = "Team members and bot identities"),
        (name = "goals", description = "Business outcomes, their milestones and trackers, and the events journeys record"),
    )
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub(super) async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
