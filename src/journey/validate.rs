//! Deploy-time validation of a journey. [`validate`] never stops at the first problem: it
//! reports every one, in a stable order (the Start and step-count rules, then each step in
//! order with its id and config, then each connection, then the declared variables, then the
//! API definitions), so an author can fix them all in one pass.
//!
//! Each problem has a stable `code`, the `step_id` it is on (when it is on a step), a `field`
//! path (relative to the step's `config` when on a step, e.g. `choices[2].title`, otherwise
//! relative to the journey, e.g. `api_definitions[1].url`) and a message that names the limit
//! and the actual value. Lengths count characters, not bytes, and count `{{placeholders}}` as
//! written: their values are unknown until the journey runs.
//!
//! | Code                         | Raised when |
//! |------------------------------|------------------------------------------------------------|
//! | `start_step_count`           | the journey has no Start step, or more than one |
//! | `no_other_steps`             | Start is the only step |
//! | `empty_step_id`              | a step's id is blank (`field` is `steps[i].id`) |
//! | `duplicate_step_id`          | a second step uses an id |
//! | `connection_to_missing_step` | a connection starts or ends at a step that does not exist |
//! | `edge_into_start`            | a connection leads into the Start step |
//! | `transfer_has_exits`         | a connection leaves an Agent Transfer step |
//! | `unknown_edge_label`         | a connection's label is not an exit of its step's kind |
//! | `duplicate_connection`       | two connections leave a step by the same exit |
//! | `text_empty`                 | a Text step's text is blank |
//! | `text_too_long`              | a Text step's text is over [`TEXT_MAX_CHARS`] |
//! | `field_empty`                | any other required field is blank |
//! | `field_too_long`             | any other field is over its character limit |
//! | `invalid_url`                | a URL does not parse, or is not http or https |
//! | `caption_not_supported`      | an Audio step has a caption |
//! | `filename_not_supported`     | a media step other than Document has a file name |
//! | `coordinate_out_of_range`    | a latitude or longitude is out of range or not finite |
//! | `invalid_template_name`      | a template name has characters other than `a-z`, `0-9`, `_` |
//! | `invalid_language_code`      | a template language is not like `en` or `en_US` |
//! | `too_few_choices`            | a Reply or Quick Reply step has no choices |
//! | `too_many_choices`           | it has more than its kind allows |
//! | `duplicate_choice_id`        | two choices of a step, or two rows of a list, share an id |
//! | `duplicate_choice_title`     | two choices (or rows) of one step have the same title |
//! | `reserved_choice_id`         | a choice or row id is `failure`, `timeout` or `success` |
//! | `too_few_sections`           | a List step has no sections |
//! | `too_many_sections`          | it has more than [`LIST_SECTIONS_MAX`] |
//! | `too_few_rows`               | a list section has no rows |
//! | `too_many_rows`              | it has more than [`LIST_ROWS_MAX`] |
//! | `retries_out_of_range`       | an input step retries more than [`RETRIES_MAX`] times |
//! | `timeout_out_of_range`       | a timeout is outside its step kind's range |
//! | `invalid_regex`              | a regular expression does not compile |
//! | `invalid_date_range`         | a custom date range starts after it ends |
//! | `duplicate_weekday`          | a weekday is excluded twice |
//! | `all_weekdays_excluded`      | every weekday is excluded, so no date is accepted |
//! | `no_branches`                | a Condition step has no branches |
//! | `duplicate_branch_id`        | two branches of a Condition share an id |
//! | `reserved_branch_id`         | a branch id is `fallback` or `success` |
//! | `no_rules`                   | a branch has no rules |
//! | `rule_value_missing`         | a rule's operator compares with a value and there is none |
//! | `delay_out_of_range`         | a Delay is shorter than [`DELAY_MIN`] |
//! | `api_request_missing`        | an API step names no definition and has no request |
//! | `api_request_ambiguous`      | an API step has both |
//! | `api_definition_not_found`   | the named definition is not in `api_definitions` |
//! | `duplicate_api_definition`   | two API definitions share a name |
//! | `invalid_json_path`          | a response mapping's path is not like `$.a.b[0].c` |
//! | `loop_cap_out_of_range`      | an AI Agent's loop cap is outside 1 to [`LOOP_CAP_MAX`] |
//! | `reserved_tool_name`         | an AI Agent's tool would be called `transfer_to_human` or `finish_conversation` |
//! | `duplicate_tool`             | two tools of an AI Agent get the same name |
//! | `invalid_parameter_name`     | an API definition's parameter is not named like a variable |
//! | `duplicate_parameter`        | two parameters of an API definition share a name |
//! | `agent_prompt_missing`       | an AI Agent has neither a system prompt nor an agent |
//! | `invalid_variable_name`      | not a name like `[A-Za-z_][A-Za-z0-9_]*`, or an unknown scope |
//! | `variable_name_taken`        | two declared variables share a name |
//! | `system_variable_read_only`  | a step stores into a system variable, or one is declared |

use super::model::{
    label, AiAgentConfig, ApiConfig, ApiRequestConfig, Choice, ChoicesConfig, ConditionConfig,
    CtaUrlConfig, DateRange, GoalConfig, Journey, ListConfig, LocationConfig, MediaConfig,
    Operator, PromptConfig, PromptDateConfig, Retries, Step, StepKind, TemplateConfig, TextConfig,
    TransferConfig, TransferTarget, Validation, WaitConfig,
};
use super::tools;
use super::values::{VariableRef, SYSTEM_VARIABLES};
use crate::domain::Header;
use regex::RegexBuilder;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// A Text step's text, in characters (WhatsApp's text body limit).
pub const TEXT_MAX_CHARS: usize = 4_096;
/// Any URL: a media link, a Call-to-Action target, an API request.
pub const URL_MAX_CHARS: usize = 2_048;
/// An image, video or document caption.
pub const CAPTION_MAX_CHARS: usize = 1_024;
/// A document's file name.
pub const FILENAME_MAX_CHARS: usize = 240;
/// The largest latitude either side of the equator, in degrees.
pub const LATITUDE_LIMIT: f64 = 90.0;
/// The largest longitude either side of Greenwich, in degrees.
pub const LONGITUDE_LIMIT: f64 = 180.0;
/// A Location's name.
pub const LOCATION_NAME_MAX_CHARS: usize = 1_000;
/// A Location's address.
pub const LOCATION_ADDRESS_MAX_CHARS: usize = 1_000;
/// The text header of an interactive message.
pub const HEADER_TEXT_MAX_CHARS: usize = 60;
/// The body of an interactive message (Call-to-Action, Reply, Quick Reply, List).
pub const BODY_MAX_CHARS: usize = 1_024;
/// The footer of an interactive message.
pub const FOOTER_MAX_CHARS: usize = 60;
/// The label of a Call-to-Action button or of the button that opens a List.
pub const BUTTON_TEXT_MAX_CHARS: usize = 20;
/// A template's name.
pub const TEMPLATE_NAME_MAX_CHARS: usize = 512;
/// One template body parameter.
pub const TEMPLATE_PARAMETER_MAX_CHARS: usize = 1_024;
/// Reply buttons per Reply step.
pub const REPLY_CHOICES_MAX: usize = 3;
/// Choices per Quick Reply step.
pub const QUICK_REPLY_CHOICES_MAX: usize = 10;
/// A reply button's title.
pub const REPLY_TITLE_MAX_CHARS: usize = 20;
/// A quick reply's title.
pub const QUICK_REPLY_TITLE_MAX_CHARS: usize = 24;
/// A choice or row id: the payload that comes back when it is chosen.
pub const CHOICE_ID_MAX_CHARS: usize = 256;
/// Longest List row id (WhatsApp's limit for rows is lower than for buttons).
pub const ROW_ID_MAX_CHARS: usize = 200;
/// Sections per List step.
pub const LIST_SECTIONS_MAX: usize = 10;
/// Rows per list section.
pub const LIST_ROWS_MAX: usize = 10;
/// A list row's title.
pub const ROW_TITLE_MAX_CHARS: usize = 24;
/// A list row's description, its second line.
pub const ROW_DESCRIPTION_MAX_CHARS: usize = 72;
/// A list section's title.
pub const SECTION_TITLE_MAX_CHARS: usize = 24;
/// Retries of an input step, unless it retries without limit.
pub const RETRIES_MAX: u32 = 5;
/// The message an input step sends when it cannot accept an answer.
pub const FAILURE_MESSAGE_MAX_CHARS: usize = 4_096;
/// The shortest timeout of an input step (Reply, Quick Reply, List, Prompt, Prompt Date).
pub const INPUT_TIMEOUT_MIN: Duration = Duration::from_secs(10);
/// The longest timeout of an input step.
pub const INPUT_TIMEOUT_MAX: Duration = Duration::from_secs(3_600);
/// A Prompt or Prompt Date question.
pub const QUESTION_MAX_CHARS: usize = 4_096;
/// The largest program a regular expression may compile to, so that a journey cannot make
/// the server build an enormous automaton.
pub const REGEX_SIZE_LIMIT_BYTES: usize = 1 << 20;
/// The shortest Delay.
pub const DELAY_MIN: Duration = Duration::from_secs(1);
/// A Wait for Events event name.
pub const EVENT_MAX_CHARS: usize = 256;
/// The shortest timeout of a Wait for Events step; it has no longest.
pub const WAIT_TIMEOUT_MIN: Duration = Duration::from_secs(1);
/// The shortest timeout of an API request.
pub const API_TIMEOUT_MIN: Duration = Duration::from_secs(1);
/// The longest timeout of an API request.
pub const API_TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// The fewest tool calls an AI Agent may be allowed per turn.
pub const LOOP_CAP_MIN: u32 = 1;
/// The most tool calls an AI Agent may be allowed per turn.
pub const LOOP_CAP_MAX: u32 = 200;
/// Longest description of an API definition or of one of its parameters, in characters.
pub const TOOL_DESCRIPTION_MAX_CHARS: usize = 1_000;
/// The note an Agent Transfer sends to the customer.
pub const TRANSFER_MESSAGE_MAX_CHARS: usize = 4_096;
/// A variable's name, without its scope.
pub const VARIABLE_NAME_MAX_CHARS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidationProblem {
    /// A stable code from the table in this module's documentation, e.g. `text_too_long`.
    pub code: &'static str,
    /// The step the problem is on, when it is on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// Where the problem is: in the step's config when it is on a step (e.g.
    /// `sections[0].rows[3].description`), otherwise in the journey (e.g. `variables[1].name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// Every problem that keeps `journey` from being deployed; empty when it is valid.
pub fn validate(journey: &Journey) -> Vec<ValidationProblem> {
    let mut problems = Vec::new();
    check_steps(journey, &mut problems);
    check_connections(journey, &mut problems);
    check_variables(journey, &mut problems);
    check_api_definitions(journey, &mut problems);
    problems
}

fn check_steps(journey: &Journey, problems: &mut Vec<ValidationProblem>) {
    let mut site = Site::journey(problems);
    let steps = journey.steps.len();
    let starts = journey
        .steps
        .iter()
        .filter(|step| matches!(step.kind, StepKind::Start))
        .count();
    if starts != 1 {
        let message = format!("a journey needs exactly one Start step; this one has {starts}");
        site.report_here("start_step_count", message);
    }
    if starts == steps {
        site.report_here("no_other_steps", "add at least one step after Start".into());
    }
    let mut ids = HashSet::new();
    for (index, step) in journey.steps.iter().enumerate() {
        let mut site = if step.id.trim().is_empty() {
            let mut site = Site::journey(problems);
            let message = format!("step {} (`{}`) has no id", index + 1, step.name);
            site.report("empty_step_id", &format!("steps[{index}].id"), message);
            // Without an id, the step's problems are placed by its index in the journey.
            site.field_prefix = format!("steps[{index}].config.");
            site
        } else {
            let mut site = Site::step(problems, &step.id);
            if !ids.insert(step.id.as_str()) {
                let message = format!("step id `{}` is used by more than one step", step.id);
                site.report_here("duplicate_step_id", message);
            }
            site
        };
        check_step(journey, step, &mut site);
    }
}

fn check_step(journey: &Journey, step: &Step, site: &mut Site<'_>) {
    match &step.kind {
        StepKind::Start => {}
        StepKind::Text(config) => check_text(config, site),
        StepKind::Image(config)
        | StepKind::Video(config)
        | StepKind::Audio(config)
        | StepKind::Document(config) => check_media(&step.kind, config, site),
        StepKind::Location(config) => check_location(config, site),
        StepKind::CtaUrl(config) => check_cta_url(config, site),
        StepKind::Template(config) => check_template(config, site),
        StepKind::Reply(config) => check_choices(&REPLY, config, site),
        StepKind::QuickReply(config) => check_choices(&QUICK_REPLY, config, site),
        StepKind::List(config) => check_list(config, site),
        StepKind::Prompt(config) => check_prompt(config, site),
        StepKind::PromptDate(config) => check_prompt_date(config, site),
        StepKind::Condition(config) => check_condition(config, site),
        StepKind::Delay(config) => {
            let limits = (DELAY_MIN, None);
            site.duration("delay_out_of_range", "seconds", config.seconds, limits);
        }
        StepKind::WaitForEvents(config) => check_wait(config, site),
        StepKind::Api(config) => check_api(journey, config, site),
        StepKind::AiAgent(config) => check_ai_agent(journey, config, site),
        StepKind::AgentTransfer(config) => check_transfer(config, site),
        StepKind::Goal(config) => check_goal(config, site),
    }
}

fn check_text(config: &TextConfig, site: &mut Site<'_>) {
    let length = config.text.chars().count();
    if config.text.trim().is_empty() {
        let message = format!("the text is empty; it needs 1 to {}", chars(TEXT_MAX_CHARS));
        site.report("text_empty", "text", message);
    } else if length > TEXT_MAX_CHARS {
        let message = too_long("the text", length, TEXT_MAX_CHARS);
        site.report("text_too_long", "text", message);
    }
    site.store_target_opt("variable", config.variable.as_deref());
}

fn check_media(kind: &StepKind, config: &MediaConfig, site: &mut Site<'_>) {
    site.url("url", &config.url);
    let caption = given(config.caption.as_deref());
    if !matches!(kind, StepKind::Audio(_)) {
        site.optional("caption", caption, CAPTION_MAX_CHARS);
    } else if caption.is_some() {
        let message = "audio is sent without a caption; remove it".into();
        site.report("caption_not_supported", "caption", message);
    }
    let filename = given(config.filename.as_deref());
    if matches!(kind, StepKind::Document(_)) {
        site.optional("filename", filename, FILENAME_MAX_CHARS);
    } else if filename.is_some() {
        let kind = kind_title(kind);
        let message = format!("only documents have a file name; remove it from this {kind} step");
        site.report("filename_not_supported", "filename", message);
    }
}

fn check_location(config: &LocationConfig, site: &mut Site<'_>) {
    site.coordinate("latitude", config.latitude, LATITUDE_LIMIT);
    site.coordinate("longitude", config.longitude, LONGITUDE_LIMIT);
    site.optional("name", config.name.as_deref(), LOCATION_NAME_MAX_CHARS);
    site.optional(
        "address",
        config.address.as_deref(),
        LOCATION_ADDRESS_MAX_CHARS,
    );
}

fn check_cta_url(config: &CtaUrlConfig, site: &mut Site<'_>) {
    site.header(config.header.as_ref());
    site.required("body", &config.body, BODY_MAX_CHARS);
    site.optional("footer", config.footer.as_deref(), FOOTER_MAX_CHARS);
    site.required("button_text", &config.button_text, BUTTON_TEXT_MAX_CHARS);
    site.url("url", &config.url);
}

fn check_template(config: &TemplateConfig, site: &mut Site<'_>) {
    let name = &config.name;
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if site.required("name", name, TEMPLATE_NAME_MAX_CHARS) && !name.chars().all(plain) {
        let message = format!("`{name}` may only hold lowercase letters, digits and `_`");
        site.report("invalid_template_name", "name", message);
    }
    let language = &config.language;
    if language.trim().is_empty() {
        let message = "the language is empty; give a code like `en` or `en_US`".into();
        site.report("field_empty", "language", message);
    } else if !is_language_code(language) {
        let message = format!("`{language}` is not a language code like `en` or `en_US`");
        site.report("invalid_language_code", "language", message);
    }
    for (index, parameter) in config.parameters.iter().enumerate() {
        let field = format!("parameters[{index}]");
        site.required(&field, parameter, TEMPLATE_PARAMETER_MAX_CHARS);
    }
}

/// What sets Reply buttons and Quick Replies apart.
struct ChoiceRules {
    kind: &'static str,
    max_choices: usize,
    title_max_chars: usize,
}

const REPLY: ChoiceRules = ChoiceRules {
    kind: "Reply",
    max_choices: REPLY_CHOICES_MAX,
    title_max_chars: REPLY_TITLE_MAX_CHARS,
};

const QUICK_REPLY: ChoiceRules = ChoiceRules {
    kind: "Quick Reply",
    max_choices: QUICK_REPLY_CHOICES_MAX,
    title_max_chars: QUICK_REPLY_TITLE_MAX_CHARS,
};

fn check_choices(rules: &ChoiceRules, config: &ChoicesConfig, site: &mut Site<'_>) {
    site.header(config.header.as_ref());
    site.required("body", &config.body, BODY_MAX_CHARS);
    site.optional("footer", config.footer.as_deref(), FOOTER_MAX_CHARS);
    let (count, kind, max) = (config.choices.len(), rules.kind, rules.max_choices);
    if count == 0 {
        let message = format!("a {kind} step needs at least 1 choice");
        site.report("too_few_choices", "choices", message);
    } else if count > max {
        let message = format!("the step has {count} choices; a {kind} step allows at most {max}");
        site.report("too_many_choices", "choices", message);
    }
    let mut ids = HashSet::new();
    let mut titles = HashSet::new();
    for (index, choice) in config.choices.iter().enumerate() {
        let field = format!("choices[{index}]");
        check_choice(
            &field,
            choice,
            (rules.title_max_chars, None, CHOICE_ID_MAX_CHARS),
            (&mut ids, &mut titles),
            site,
        );
    }
    site.input(
        config.retries,
        config.failure_message.as_deref(),
        config.timeout_secs,
    );
    site.store_target_opt("variable", config.variable.as_deref());
}

fn check_list(config: &ListConfig, site: &mut Site<'_>) {
    site.optional("header", config.header.as_deref(), HEADER_TEXT_MAX_CHARS);
    site.required("body", &config.body, BODY_MAX_CHARS);
    site.optional("footer", config.footer.as_deref(), FOOTER_MAX_CHARS);
    site.required("button_text", &config.button_text, BUTTON_TEXT_MAX_CHARS);
    let sections = config.sections.len();
    if sections == 0 {
        let message = "a List step needs at least 1 section".into();
        site.report("too_few_sections", "sections", message);
    } else if sections > LIST_SECTIONS_MAX {
        let message = format!("the list has {sections} sections; the limit is {LIST_SECTIONS_MAX}");
        site.report("too_many_sections", "sections", message);
    }
    // Row ids are the payloads of one menu, so they must be unique across its sections.
    let mut ids = HashSet::new();
    let mut titles = HashSet::new();
    for (index, section) in config.sections.iter().enumerate() {
        let title_field = format!("sections[{index}].title");
        let title = given(section.title.as_deref());
        if title.is_none() && sections > 1 {
            let message = format!(
                "{} is empty; WhatsApp needs a title on every section of a list with more than one",
                describe(&title_field)
            );
            site.report("field_empty", &title_field, message);
        }
        site.optional(&title_field, title, SECTION_TITLE_MAX_CHARS);
        let rows_field = format!("sections[{index}].rows");
        let rows = section.rows.len();
        if rows == 0 {
            let message = format!("section {} needs at least 1 row", index + 1);
            site.report("too_few_rows", &rows_field, message);
        } else if rows > LIST_ROWS_MAX {
            let message = format!(
                "section {} has {rows} rows; the limit is {LIST_ROWS_MAX}",
                index + 1
            );
            site.report("too_many_rows", &rows_field, message);
        }
        for (row_index, row) in section.rows.iter().enumerate() {
            let field = format!("{rows_field}[{row_index}]");
            let limits = (
                ROW_TITLE_MAX_CHARS,
                Some(ROW_DESCRIPTION_MAX_CHARS),
                ROW_ID_MAX_CHARS,
            );
            check_choice(&field, row, limits, (&mut ids, &mut titles), site);
        }
    }
    site.input(
        config.retries,
        config.failure_message.as_deref(),
        config.timeout_secs,
    );
    site.store_target_opt("variable", config.variable.as_deref());
}

/// One choice or list row at `field`. `limits` holds the most characters of its title and,
/// for list rows, of its description.
fn check_choice<'j>(
    field: &str,
    choice: &'j Choice,
    (title_max_chars, description_max_chars, id_max_chars): (usize, Option<usize>, usize),
    (ids, titles): (&mut HashSet<&'j str>, &mut HashSet<String>),
    site: &mut Site<'_>,
) {
    let id_field = format!("{field}.id");
    let id = choice.id.as_str();
    if site.required(&id_field, id, id_max_chars) {
        if [label::FAILURE, label::TIMEOUT, label::SUCCESS].contains(&id) {
            let message = format!("the id `{id}` is reserved for the step's `{id}` exit");
            site.report("reserved_choice_id", &id_field, message);
        } else if !ids.insert(id) {
            let message = format!("the id `{id}` is already used by another choice of this step");
            site.report("duplicate_choice_id", &id_field, message);
        }
    }
    let title_field = format!("{field}.title");
    if site.required(&title_field, &choice.title, title_max_chars)
        && !titles.insert(choice.title.trim().to_lowercase())
    {
        // WhatsApp refuses two options with one title, and a typed answer could not tell
        // them apart.
        let message = format!(
            "the title `{}` is already used by another choice of this step",
            choice.title.trim()
        );
        site.report("duplicate_choice_title", &title_field, message);
    }
    if let Some(max) = description_max_chars {
        let description = choice.description.as_deref();
        site.optional(&format!("{field}.description"), description, max);
    }
    for (index, synonym) in choice.synonyms.iter().enumerate() {
        site.present(&format!("{field}.synonyms[{index}]"), synonym);
    }
}

fn check_prompt(config: &PromptConfig, site: &mut Site<'_>) {
    site.required("question", &config.question, QUESTION_MAX_CHARS);
    match &config.validation {
        Validation::Regex { pattern } => {
            if site.present("validation.pattern", pattern) {
                site.regex("validation.pattern", pattern);
            }
        }
        Validation::Ai { criterion } => {
            site.present("validation.criterion", criterion);
        }
        Validation::None | Validation::Phone | Validation::Email | Validation::Number => {}
    }
    site.input(
        config.retries,
        config.failure_message.as_deref(),
        config.timeout_secs,
    );
    site.store_target_opt("variable", config.variable.as_deref());
}

fn check_prompt_date(config: &PromptDateConfig, site: &mut Site<'_>) {
    site.required("question", &config.question, QUESTION_MAX_CHARS);
    if let DateRange::Custom {
        from: Some(from),
        to: Some(to),
    } = config.range
    {
        if from > to {
            let message = format!("the range starts on {from}, after it ends on {to}");
            site.report("invalid_date_range", "range", message);
        }
    }
    let mut excluded = HashSet::new();
    for (index, weekday) in config.excluded_weekdays.iter().enumerate() {
        if !excluded.insert(weekday) {
            let message = format!("{weekday:?} is excluded more than once");
            site.report(
                "duplicate_weekday",
                &format!("excluded_weekdays[{index}]"),
                message,
            );
        }
    }
    if excluded.len() == 7 {
        let message = "all seven weekdays are excluded, so no date can be accepted".into();
        site.report("all_weekdays_excluded", "excluded_weekdays", message);
    }
    site.input(
        config.retries,
        config.failure_message.as_deref(),
        config.timeout_secs,
    );
    site.store_target_opt("variable", config.variable.as_deref());
}

fn check_condition(config: &ConditionConfig, site: &mut Site<'_>) {
    if config.branches.is_empty() {
        let message = "a Condition step needs at least 1 branch".into();
        site.report("no_branches", "branches", message);
    }
    let mut ids = HashSet::new();
    for (index, branch) in config.branches.iter().enumerate() {
        let field = format!("branches[{index}]");
        let id_field = format!("{field}.id");
        let id = branch.id.as_str();
        if site.present(&id_field, id) {
            if id == label::FALLBACK || id == label::SUCCESS {
                let message = format!(
                    "the id `{id}` is reserved: `fallback` is the exit taken when no branch \
                     matches, and `success` stands for an unlabelled edge"
                );
                site.report("reserved_branch_id", &id_field, message);
            } else if !ids.insert(id) {
                let message = format!("the id `{id}` is already used by another branch");
                site.report("duplicate_branch_id", &id_field, message);
            }
        }
        if branch.rules.is_empty() {
            let message = format!("branch {} needs at least 1 rule", index + 1);
            site.report("no_rules", &format!("{field}.rules"), message);
        }
        for (rule_index, rule) in branch.rules.iter().enumerate() {
            let field = format!("{field}.rules[{rule_index}]");
            site.present(&format!("{field}.variable"), &rule.variable);
            if matches!(rule.operator, Operator::Exists | Operator::NotExists) {
                continue;
            }
            let value_field = format!("{field}.value");
            match rule.value.as_deref() {
                // Only an empty value is missing: `contains " "` is a meaningful rule.
                None | Some("") => {
                    let message = format!("{} is missing", describe(&value_field));
                    site.report("rule_value_missing", &value_field, message);
                }
                Some(pattern)
                    if rule.operator == Operator::MatchesRegex && !pattern.contains("{{") =>
                {
                    site.regex(&value_field, pattern);
                }
                Some(_) => {}
            }
        }
    }
}

fn check_wait(config: &WaitConfig, site: &mut Site<'_>) {
    site.required("event", &config.event, EVENT_MAX_CHARS);
    if let Some(seconds) = config.timeout_secs {
        let limits = (WAIT_TIMEOUT_MIN, None);
        site.duration("timeout_out_of_range", "timeout_secs", seconds, limits);
    }
    site.store_target_opt("variable", config.variable.as_deref());
}

fn check_api(journey: &Journey, config: &ApiConfig, site: &mut Site<'_>) {
    match (&config.definition, &config.request) {
        (None, None) => {
            let message = "an API step needs an API definition's name or a request of its own";
            site.report_here("api_request_missing", message.into());
        }
        (Some(_), Some(_)) => {
            let message = "an API step uses an API definition or a request of its own, not both";
            site.report_here("api_request_ambiguous", message.into());
        }
        _ => {}
    }
    if let Some(name) = &config.definition {
        if site.present("definition", name) && journey.api_definition(name).is_none() {
            let message = format!("the journey has no API definition named `{name}`");
            site.report("api_definition_not_found", "definition", message);
        }
    }
    if let Some(request) = &config.request {
        check_request(request, &mut site.nested("request."));
    }
    if let Some(post_process) = &config.post_process {
        site.present("post_process.prompt", &post_process.prompt);
        site.store_target("post_process.variable", &post_process.variable);
    }
}

fn check_request(request: &ApiRequestConfig, site: &mut Site<'_>) {
    site.url("url", &request.url);
    if let Some(seconds) = request.timeout_secs {
        let limits = (API_TIMEOUT_MIN, Some(API_TIMEOUT_MAX));
        site.duration("timeout_out_of_range", "timeout_secs", seconds, limits);
    }
    for (index, mapping) in request.mapping.iter().enumerate() {
        site.store_target(&format!("mapping[{index}].variable"), &mapping.variable);
        let field = format!("mapping[{index}].path");
        let path = mapping.path.as_str();
        if site.present(&field, path) && !is_json_path(path.trim()) {
            let message = format!("`{path}` is not a JSON path like `$.a.b[0].c` or `a.b[0]`");
            site.report("invalid_json_path", &field, message);
        }
    }
}

fn check_ai_agent(journey: &Journey, config: &AiAgentConfig, site: &mut Site<'_>) {
    let mut tool_names: Vec<String> = Vec::new();
    for (index, name) in config.tools.iter().enumerate() {
        let field = format!("tools[{index}]");
        if !site.present(&field, name) {
            continue;
        }
        if journey.api_definition(name).is_none() {
            let message = format!("the journey has no API definition named `{name}`");
            site.report("api_definition_not_found", &field, message);
            continue;
        }
        let tool = tools::tool_name(name);
        if tool == tools::HANDOFF_TOOL || tool == tools::FINISH_TOOL {
            let message = format!("`{tool}` is the name of a tool every agent has");
            site.report("reserved_tool_name", &field, message);
        } else if tool_names.contains(&tool) {
            let message = format!("another tool of this agent is also called `{tool}`");
            site.report("duplicate_tool", &field, message);
        } else {
            tool_names.push(tool);
        }
    }
    let loop_cap = config.loop_cap;
    if !(LOOP_CAP_MIN..=LOOP_CAP_MAX).contains(&loop_cap) {
        let message = format!(
            "the loop cap is {loop_cap}; it must be between {LOOP_CAP_MIN} and {LOOP_CAP_MAX}"
        );
        site.report("loop_cap_out_of_range", "loop_cap", message);
    }
    if config.system_prompt.trim().is_empty() && given(config.agent.as_deref()).is_none() {
        let message = "an AI Agent step needs a system prompt or the name of an AI agent".into();
        site.report("agent_prompt_missing", "system_prompt", message);
    }
}

fn check_transfer(config: &TransferConfig, site: &mut Site<'_>) {
    match &config.target {
        TransferTarget::User { user_id } => site.present("target.user_id", user_id),
        TransferTarget::Team { team_id } => site.present("target.team_id", team_id),
    };
    site.optional(
        "message",
        config.message.as_deref(),
        TRANSFER_MESSAGE_MAX_CHARS,
    );
}

fn check_goal(config: &GoalConfig, site: &mut Site<'_>) {
    site.present("goal_id", &config.goal_id);
    site.present("milestone_id", &config.milestone_id);
    if config.trackers.keys().any(|name| name.trim().is_empty()) {
        site.report("field_empty", "trackers", "a tracker has no name".into());
    }
}

fn check_connections(journey: &Journey, problems: &mut Vec<ValidationProblem>) {
    // The (step id, exit) pairs already taken; `Exits::exit` folds an unlabelled edge into
    // the exit it stands for.
    let mut taken = HashSet::new();
    for edge in &journey.connections {
        let (from, to) = (journey.step(&edge.from), journey.step(&edge.to));
        let mut site = match from {
            Some(step) if !step.id.trim().is_empty() => Site::step(problems, &step.id),
            _ => Site::journey(problems),
        };
        let connection = match &edge.label {
            Some(label) => format!("the `{label}` connection from `{}`", edge.from),
            None => format!("the connection from `{}`", edge.from),
        };
        let connection = format!("{connection} to `{}`", edge.to);
        if from.is_none() {
            let message = format!("{connection} starts at a step that does not exist");
            site.report_here("connection_to_missing_step", message);
        }
        match to {
            None => {
                let message = format!("{connection} leads to a step that does not exist");
                site.report_here("connection_to_missing_step", message);
            }
            Some(step) if matches!(step.kind, StepKind::Start) => {
                let message = format!("{connection} leads back into the Start step");
                site.report_here("edge_into_start", message);
            }
            Some(_) => {}
        }
        let Some(from) = from else {
            continue;
        };
        if matches!(from.kind, StepKind::AgentTransfer(_)) {
            let message = format!(
                "{connection} leaves an Agent Transfer step, where the conversation leaves the bot"
            );
            site.report_here("transfer_has_exits", message);
            continue;
        }
        let exits = Exits::of(&from.kind);
        match exits.exit(edge.label.as_deref()) {
            None => {
                let kind = kind_title(&from.kind);
                let message = format!(
                    "{connection} is not an exit of this {kind} step; {}",
                    exits.hint
                );
                site.report_here("unknown_edge_label", message);
            }
            Some(exit) if !taken.insert((from.id.as_str(), exit)) => {
                let mut message =
                    format!("{connection} leaves by the same exit as an earlier connection");
                if let Some(meaning) = exits.unlabelled {
                    message.push_str(&format!(" (no label counts as `{meaning}`)"));
                }
                site.report_here("duplicate_connection", message);
            }
            Some(_) => {}
        }
    }
}

/// The exits of a step kind: where its edges may lead from.
struct Exits<'j> {
    /// Labels with a meaning to the interpreter.
    fixed: &'static [&'static str],
    /// The step's choice, row or branch ids.
    ids: Vec<&'j str>,
    /// The exit an unlabelled edge stands for; `None` when it is an exit of its own.
    unlabelled: Option<&'static str>,
    /// Which labels to use instead of an unknown one.
    hint: &'static str,
}

impl<'j> Exits<'j> {
    fn of(kind: &'j StepKind) -> Self {
        use label::{FAILURE, FALLBACK, SUCCESS, TIMEOUT, TRANSFER};
        let exits = |fixed: &'static [&'static str], unlabelled, hint| Exits {
            fixed,
            ids: Vec::new(),
            unlabelled,
            hint,
        };
        match kind {
            StepKind::Reply(config) | StepKind::QuickReply(config) => Exits {
                ids: config
                    .choices
                    .iter()
                    .map(|choice| choice.id.as_str())
                    .collect(),
                ..exits(
                    &[FAILURE, TIMEOUT],
                    None,
                    "label it with a choice id, `failure` or `timeout`, or leave it unlabelled",
                )
            },
            StepKind::List(config) => Exits {
                ids: config.rows().map(|row| row.id.as_str()).collect(),
                ..exits(
                    &[FAILURE, TIMEOUT],
                    None,
                    "label it with a row id, `failure` or `timeout`, or leave it unlabelled",
                )
            },
            StepKind::Prompt(_) | StepKind::PromptDate(_) => exits(
                &[SUCCESS, FAILURE, TIMEOUT],
                Some(SUCCESS),
                "label it `success`, `failure` or `timeout`, or leave it unlabelled",
            ),
            StepKind::Condition(config) => Exits {
                ids: config
                    .branches
                    .iter()
                    .map(|branch| branch.id.as_str())
                    .collect(),
                ..exits(
                    &[FALLBACK],
                    Some(FALLBACK),
                    "label it with a branch id, or `fallback` (or nothing) for when none matches",
                )
            },
            StepKind::WaitForEvents(_) => exits(
                &[SUCCESS, TIMEOUT],
                Some(SUCCESS),
                "label it `success` or `timeout`, or leave it unlabelled",
            ),
            StepKind::Api(_) => exits(
                &[SUCCESS, FAILURE],
                Some(SUCCESS),
                "label it `success` or `failure`, or leave it unlabelled",
            ),
            StepKind::AiAgent(_) => exits(
                &[SUCCESS, TRANSFER, FAILURE],
                Some(SUCCESS),
                "label it `success`, `transfer` or `failure`, or leave it unlabelled",
            ),
            _ => exits(
                &[SUCCESS],
                Some(SUCCESS),
                "label it `success` or leave it unlabelled",
            ),
        }
    }

    /// The exit an edge with `label` leaves by, or `None` when the step has no such exit.
    fn exit(&self, label: Option<&'j str>) -> Option<&'j str> {
        match label {
            None => Some(self.unlabelled.unwrap_or("")),
            Some(label) if self.fixed.contains(&label) || self.ids.contains(&label) => Some(label),
            Some(_) => None,
        }
    }
}

fn check_variables(journey: &Journey, problems: &mut Vec<ValidationProblem>) {
    let mut site = Site::journey(problems);
    let mut names = HashSet::new();
    for (index, variable) in journey.variables.iter().enumerate() {
        let field = format!("variables[{index}].name");
        let name = variable.name.as_str();
        if !site.present(&field, name) {
            continue;
        }
        if SYSTEM_VARIABLES.contains(&name) {
            let message = format!("`{name}` is a system variable; give this one another name");
            site.report("system_variable_read_only", &field, message);
        } else {
            site.variable_name(&field, name);
        }
        // Names are unique across scopes, so that a bare `{{name}}` means one variable.
        if !names.insert(name) {
            let message = format!("a variable named `{name}` is already declared");
            site.report("variable_name_taken", &field, message);
        }
    }
}

fn check_api_definitions(journey: &Journey, problems: &mut Vec<ValidationProblem>) {
    let mut names = HashSet::new();
    for (index, definition) in journey.api_definitions.iter().enumerate() {
        let mut site = Site::journey(problems);
        site.field_prefix = format!("api_definitions[{index}].");
        let name = definition.name.as_str();
        site.message_prefix = match name.trim() {
            "" => format!("API definition {}: ", index + 1),
            _ => format!("API definition `{name}`: "),
        };
        if site.present("name", name) && !names.insert(name) {
            let message = "another API definition has the same name".into();
            site.report("duplicate_api_definition", "name", message);
        }
        check_request(&definition.request, &mut site);
        site.optional(
            "description",
            definition.description.as_deref(),
            TOOL_DESCRIPTION_MAX_CHARS,
        );
        let mut parameters = HashSet::new();
        for (index, parameter) in definition.parameters.iter().enumerate() {
            let field = format!("parameters[{index}].name");
            let name = parameter.name.as_str();
            if !tools::is_parameter_name(name) {
                let message = format!(
                    "`{name}` is not a parameter name: use letters, digits and `_`, start with \
                     a letter or `_`, and do not use a system variable's name"
                );
                site.report("invalid_parameter_name", &field, message);
            } else if !parameters.insert(name) {
                let message = format!("another parameter is also named `{name}`");
                site.report("duplicate_parameter", &field, message);
            }
            site.optional(
                &format!("parameters[{index}].description"),
                parameter.description.as_deref(),
                TOOL_DESCRIPTION_MAX_CHARS,
            );
        }
    }
}

/// Collects the problems of one place: a step, or the journey itself when `step_id` is
/// `None`. Messages name fields by their paths relative to the place (see [`describe`]).
struct Site<'p> {
    problems: &'p mut Vec<ValidationProblem>,
    step_id: Option<String>,
    /// Prepended to field paths, e.g. `request.` inside an API step's own request.
    field_prefix: String,
    /// Prepended to messages, e.g. "API definition `rooms`: ".
    message_prefix: String,
}

impl<'p> Site<'p> {
    fn journey(problems: &'p mut Vec<ValidationProblem>) -> Self {
        Site {
            problems,
            step_id: None,
            field_prefix: String::new(),
            message_prefix: String::new(),
        }
    }

    fn step(problems: &'p mut Vec<ValidationProblem>, step_id: &str) -> Self {
        Site {
            step_id: Some(step_id.to_owned()),
            ..Site::journey(problems)
        }
    }

    fn nested(&mut self, field_prefix: &str) -> Site<'_> {
        Site {
            problems: &mut *self.problems,
            step_id: self.step_id.clone(),
            field_prefix: format!("{}{field_prefix}", self.field_prefix),
            message_prefix: self.message_prefix.clone(),
        }
    }

    fn report(&mut self, code: &'static str, field: &str, message: String) {
        let field = format!("{}{field}", self.field_prefix);
        self.push(code, Some(field), message);
    }

    /// A problem on the place as a whole rather than on one of its fields.
    fn report_here(&mut self, code: &'static str, message: String) {
        let field = self.field_prefix.trim_end_matches('.');
        let field = (!field.is_empty()).then(|| field.to_owned());
        self.push(code, field, message);
    }

    fn push(&mut self, code: &'static str, field: Option<String>, message: String) {
        self.problems.push(ValidationProblem {
            code,
            step_id: self.step_id.clone(),
            field,
            message: match self.message_prefix.as_str() {
                "" => message,
                prefix => format!("{prefix}{message}"),
            },
        });
    }

    /// A field that must not be blank. Says whether it is present.
    fn present(&mut self, field: &str, value: &str) -> bool {
        let present = !value.trim().is_empty();
        if !present {
            let message = format!("{} is empty", describe(field));
            self.report("field_empty", field, message);
        }
        present
    }

    /// A field of 1 to `max` characters. Says whether it is present.
    fn required(&mut self, field: &str, value: &str, max: usize) -> bool {
        if value.trim().is_empty() {
            let message = format!("{} is empty; it needs 1 to {}", describe(field), chars(max));
            self.report("field_empty", field, message);
            return false;
        }
        self.optional(field, Some(value), max);
        true
    }

    /// A field of at most `max` characters, when it is there.
    fn optional(&mut self, field: &str, value: Option<&str>, max: usize) {
        let length = value.map_or(0, |value| value.chars().count());
        if length > max {
            let message = too_long(&describe(field), length, max);
            self.report("field_too_long", field, message);
        }
    }

    /// An http or https URL. One with a `{{placeholder}}` is only known once interpolated,
    /// so only its presence and length are checked.
    fn url(&mut self, field: &str, value: &str) {
        let length = value.chars().count();
        if !self.required(field, value, URL_MAX_CHARS)
            || length > URL_MAX_CHARS
            || value.contains("{{")
        {
            return;
        }
        let problem = match url::Url::parse(value.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => return,
            Ok(url) => format!(
                "uses the `{}` scheme; only http and https work",
                url.scheme()
            ),
            Err(error) => format!("is not a valid URL: {error}"),
        };
        let message = format!("{} {problem}", describe(field));
        self.report("invalid_url", field, message);
    }

    fn header(&mut self, header: Option<&Header>) {
        match header {
            None => {}
            Some(Header::Text { text }) => {
                self.optional("header.text", Some(text), HEADER_TEXT_MAX_CHARS);
            }
            Some(Header::Image { url } | Header::Video { url } | Header::Document { url }) => {
                self.url("header.url", url);
            }
        }
    }

    fn coordinate(&mut self, field: &str, degrees: f64, limit: f64) {
        if !degrees.is_finite() || degrees.abs() > limit {
            let what = describe(field);
            let message = format!("{what} is {degrees}; it must be between -{limit} and {limit}");
            self.report("coordinate_out_of_range", field, message);
        }
    }

    /// A number of seconds of at least `min` and, when there is one, at most `max`.
    fn duration(
        &mut self,
        code: &'static str,
        field: &str,
        seconds: u64,
        (min, max): (Duration, Option<Duration>),
    ) {
        let duration = Duration::from_secs(seconds);
        let allowed = match max {
            Some(max) if duration < min || duration > max => {
                format!("between {} and {}", grouped(min.as_secs()), secs(max))
            }
            None if duration < min => format!("at least {}", secs(min)),
            _ => return,
        };
        // `timeout_secs` reads as "the timeout", `seconds` as "the delay".
        let what = match field {
            "seconds" => "the delay",
            _ => "the timeout",
        };
        let message = format!("{what} is {}; it must be {allowed}", secs(duration));
        self.report(code, field, message);
    }

    /// The settings every input step shares.
    fn input(&mut self, retries: Retries, failure_message: Option<&str>, timeout: Option<u64>) {
        if let Retries::Count(count) = retries {
            if count > RETRIES_MAX {
                let message =
                    format!("retries is {count}; it must be 0 to {RETRIES_MAX}, or unlimited");
                self.report("retries_out_of_range", "retries", message);
            }
        }
        self.optional(
            "failure_message",
            failure_message,
            FAILURE_MESSAGE_MAX_CHARS,
        );
        if let Some(seconds) = timeout {
            let limits = (INPUT_TIMEOUT_MIN, Some(INPUT_TIMEOUT_MAX));
            self.duration("timeout_out_of_range", "timeout_secs", seconds, limits);
        }
    }

    fn regex(&mut self, field: &str, pattern: &str) {
        let compiled = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT_BYTES)
            .build();
        let reason = match compiled {
            Ok(_) => return,
            Err(regex::Error::CompiledTooBig(limit)) => {
                format!("it compiles to more than {} bytes", grouped(limit))
            }
            // A syntax error draws a caret under the pattern; its last line says what is wrong.
            Err(error) => {
                let text = error.to_string();
                let last = text.lines().last().unwrap_or_default().trim();
                last.strip_prefix("error: ").unwrap_or(last).to_owned()
            }
        };
        let what = describe(field);
        let message = format!("{what} is not a valid regular expression: {reason}");
        self.report("invalid_regex", field, message);
    }

    fn store_target_opt(&mut self, field: &str, reference: Option<&str>) {
        if let Some(reference) = reference {
            self.store_target(field, reference);
        }
    }

    /// Where a step stores a value, read as the interpreter reads it: a bare name (local),
    /// or `local.`, `campaign.`, `var_local.` or `var_campaign.` and a name. System variables
    /// are read-only, and their names are reserved in every scope, as for declared variables.
    fn store_target(&mut self, field: &str, reference: &str) {
        if !self.present(field, reference) {
            return;
        }
        let reference = reference.trim();
        let parsed = VariableRef::parse(reference);
        let name = match parsed {
            VariableRef::System(name)
            | VariableRef::Local(name)
            | VariableRef::Campaign(name)
            | VariableRef::Bare(name) => name,
        };
        if matches!(parsed, VariableRef::System(_)) || SYSTEM_VARIABLES.contains(&name) {
            let message =
                format!("`{reference}` is a system variable, which journeys cannot write");
            self.report("system_variable_read_only", field, message);
        } else if let (VariableRef::Bare(_), Some((scope, _))) = (parsed, name.split_once('.')) {
            let message = format!(
                "`{reference}` has the unknown scope `{scope}`; use `local.`, `campaign.` or none"
            );
            self.report("invalid_variable_name", field, message);
        } else if name.is_empty() {
            let message = format!("`{reference}` names no variable after its scope");
            self.report("invalid_variable_name", field, message);
        } else {
            self.variable_name(field, name);
        }
    }

    /// A non-empty variable name without its scope.
    fn variable_name(&mut self, field: &str, name: &str) {
        let length = name.chars().count();
        if length > VARIABLE_NAME_MAX_CHARS {
            let message = too_long("the variable name", length, VARIABLE_NAME_MAX_CHARS);
            self.report("field_too_long", field, message);
        } else if !is_variable_name(name) {
            let message = format!(
                "`{name}` is not a variable name: use letters, digits and `_`, and no digit first"
            );
            self.report("invalid_variable_name", field, message);
        }
    }
}

/// How messages name a field: `choices[2].title` is "the title of choice 3",
/// `header.url` "the header URL" and `parameters[0]` "parameter 1".
fn describe(field: &str) -> String {
    let mut owners = Vec::new();
    let mut words = Vec::new();
    for segment in field.split('.') {
        match segment.split_once('[') {
            Some((plural, index)) => {
                let number = index.trim_end_matches(']').parse::<usize>().unwrap_or(0) + 1;
                let singular = plural
                    .strip_suffix("es")
                    .filter(|stem| stem.ends_with("ch"))
                    .or_else(|| plural.strip_suffix('s'))
                    .unwrap_or(plural);
                owners.push(format!("{} {number}", singular.replace('_', " ")));
            }
            None if segment == "url" => words.push("URL".to_owned()),
            None => words.push(segment.replace('_', " ")),
        }
    }
    let subject = if words.is_empty() {
        owners.pop().unwrap_or_default()
    } else {
        format!("the {}", words.join(" "))
    };
    owners
        .iter()
        .rev()
        .fold(subject, |text, owner| format!("{text} of {owner}"))
}

/// The value of an optional text field, treating a blank one as absent.
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

fn too_long(what: &str, length: usize, max: usize) -> String {
    format!(
        "{what} has {}; the limit is {}",
        chars(length),
        grouped(max)
    )
}

/// `1 character`, `1,024 characters`.
fn chars(count: usize) -> String {
    match count {
        1 => "1 character".into(),
        count => format!("{} characters", grouped(count)),
    }
}

/// `1 second`, `3,600 seconds`.
fn secs(duration: Duration) -> String {
    match duration.as_secs() {
        1 => "1 second".into(),
        seconds => format!("{} seconds", grouped(seconds)),
    }
}

/// `1234567` as `1,234,567`.
fn grouped(number: impl std::fmt::Display) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `en`, `fil` or `en_US`: a two- or three-letter language and an optional region.
fn is_language_code(code: &str) -> bool {
    let (language, region) = match code.split_once('_') {
        Some((language, region)) => (language, Some(region)),
        None => (code, None),
    };
    let upper = |region: &str| region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase());
    (2..=3).contains(&language.len())
        && language.bytes().all(|byte| byte.is_ascii_lowercase())
        && region.is_none_or(upper)
}

/// `$`, `$.a.b[0].c`, `$[0].a` or `a.b[0]`: keys joined by dots, each followed by any number
/// of `[index]`es, after an optional `$` (which then needs a `.` before its first key).
fn is_json_path(path: &str) -> bool {
    /// What follows a key at the start of `text`, if it starts with one.
    fn key(text: &str) -> Option<&str> {
        let end = text
            .find(|c: char| matches!(c, '.' | '[' | ']') || c.is_whitespace())
            .unwrap_or(text.len());
        (end > 0).then(|| &text[end..])
    }
    /// What follows `digits]` at the start of `text`, if it starts with them.
    fn index(text: &str) -> Option<&str> {
        let end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        if end == 0 {
            return None;
        }
        text[end..].strip_prefix(']')
    }
    let mut rest = match path.strip_prefix('$') {
        Some(accessors) => Some(accessors),
        None => key(path),
    };
    while let Some(text) = rest {
        if text.is_empty() {
            return true;
        }
        rest = match text.strip_prefix('.') {
            Some(after) => key(after),
            None => text.strip_prefix('[').and_then(index),
        };
    }
    false
}

/// The name of a kind as the builder's palette shows it.
fn kind_title(kind: &StepKind) -> &'static str {
    match kind {
        StepKind::Start => "Start",
        StepKind::Text(_) => "Text",
        StepKind::Image(_) => "Image",
        StepKind::Video(_) => "Video",
        StepKind::Audio(_) => "Audio",
        StepKind::Document(_) => "Document",
        StepKind::Location(_) => "Location",
        StepKind::CtaUrl(_) => "Call-to-Action URL",
        StepKind::Template(_) => "Template",
        StepKind::Reply(_) => "Reply",
        StepKind::QuickReply(_) => "Quick Reply",
        StepKind::List(_) => "List",
        StepKind::Prompt(_) => "Prompt",
        StepKind::PromptDate(_) => "Prompt Date",
        StepKind::Condition(_) => "Condition",
        StepKind::Delay(_) => "Delay",
        StepKind::WaitForEvents(_) => "Wait for Events",
        StepKind::Api(_) => "API",
        StepKind::AiAgent(_) => "AI Agent",
        StepKind::AgentTransfer(_) => "Agent Transfer",
        StepKind::Goal(_) => "Goal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::model::{
        ApiDefinition, ConditionBranch, Connection, DelayConfig, ListSectionConfig, ParameterKind,
        Position, PostProcess, ResponseMapping, Rule, ToolParameter, VariableDef, VariableScope,
        Weekday, START_STEP_ID,
    };
    use chrono::NaiveDate;
    use StepKind::*;

    /// A change to a config or journey, in a case table.
    type Edit<T> = fn(&mut T);
    /// The problems a case expects, as `summary` writes them.
    type Expected<'a> = &'a [&'a str];

    /// The id of the step each test adds after the greeting.
    const STEP: &str = "s";

    /// `Journey::greeting` with one more step, `s`, after the greeting.
    fn with_step(kind: StepKind) -> Journey {
        let mut journey = Journey::greeting("Hi");
        journey.steps.push(Step {
            id: STEP.into(),
            name: "Step".into(),
            position: Position::default(),
            kind,
        });
        journey.connections.push(edge("greeting", STEP, None));
        journey
    }

    /// `with_step` of a kind whose config is `config` changed by `edit`.
    fn with<C>(kind: fn(C) -> StepKind, config: C, edit: impl FnOnce(&mut C)) -> Journey {
        with_step(kind(edited(config, edit)))
    }

    /// An API step whose own request is `request()` changed by `edit`.
    fn with_request(edit: impl FnOnce(&mut ApiRequestConfig)) -> Journey {
        with(Api, api(), |config| {
            edit(config.request.as_mut().expect("api() has a request"));
        })
    }

    /// The greeting journey declaring variables of these names.
    fn declaring(names: &[&str]) -> Journey {
        edited(Journey::greeting("Hi"), |journey| {
            journey.variables = names.iter().map(|name| variable(name)).collect();
        })
    }

    fn edited<T>(mut value: T, edit: impl FnOnce(&mut T)) -> T {
        edit(&mut value);
        value
    }

    fn edge(from: &str, to: &str, label: Option<&str>) -> Connection {
        Connection {
            from: from.into(),
            to: to.into(),
            label: label.map(Into::into),
        }
    }

    fn count(n: i64) -> usize {
        usize::try_from(n).expect("counts are not negative")
    }

    /// `n` two-byte characters, so that counting bytes instead of characters fails.
    fn chars(n: i64) -> String {
        "é".repeat(count(n))
    }

    fn ascii(n: i64) -> String {
        "a".repeat(count(n))
    }

    /// A valid URL of `n` characters.
    fn url(n: i64) -> String {
        let base = "https://example.com/";
        format!("{base}{}", "é".repeat(count(n) - base.len()))
    }

    fn text(text: &str) -> TextConfig {
        TextConfig {
            text: text.into(),
            variable: None,
        }
    }

    fn media() -> MediaConfig {
        MediaConfig {
            url: "https://example.com/a.png".into(),
            caption: None,
            filename: None,
        }
    }

    fn location(latitude: f64, longitude: f64) -> LocationConfig {
        LocationConfig {
            latitude,
            longitude,
            name: None,
            address: None,
        }
    }

    fn cta() -> CtaUrlConfig {
        CtaUrlConfig {
            header: None,
            body: "Our menu".into(),
            footer: None,
            button_text: "Open".into(),
            url: "https://example.com/menu".into(),
        }
    }

    fn template() -> TemplateConfig {
        TemplateConfig {
            name: "order_update".into(),
            language: "en_US".into(),
            parameters: vec!["Ana".into()],
        }
    }

    fn choice(id: &str) -> Choice {
        Choice {
            id: id.into(),
            title: format!("Title {id}"),
            description: None,
            synonyms: Vec::new(),
        }
    }

    /// Choices with the ids `c0`, `c1` …
    fn choices(count: usize) -> ChoicesConfig {
        ChoicesConfig {
            header: None,
            body: "Pick one".into(),
            footer: None,
            choices: (0..count)
                .map(|index| choice(&format!("c{index}")))
                .collect(),
            retries: Retries::default(),
            failure_message: None,
            timeout_secs: None,
            variable: None,
        }
    }

    /// Sections titled `Section 0` … with rows whose ids are `r<section>_<row>`.
    fn list(sections: usize, rows: usize) -> ListConfig {
        let section = |section| ListSectionConfig {
            title: Some(format!("Section {section}")),
            rows: (0..rows)
                .map(|row| choice(&format!("r{section}_{row}")))
                .collect(),
        };
        ListConfig {
            header: None,
            body: "Pick one".into(),
            footer: None,
            button_text: "Menu".into(),
            sections: (0..sections).map(section).collect(),
            retries: Retries::default(),
            failure_message: None,
            timeout_secs: None,
            variable: None,
        }
    }

    fn prompt() -> PromptConfig {
        PromptConfig {
            question: "Your name?".into(),
            validation: Validation::None,
            retries: Retries::default(),
            failure_message: None,
            timeout_secs: None,
            variable: None,
        }
    }

    fn prompt_date() -> PromptDateConfig {
        PromptDateConfig {
            question: "Which day?".into(),
            format: Default::default(),
            range: DateRange::All,
            excluded_weekdays: Vec::new(),
            retries: Retries::default(),
            failure_message: None,
            timeout_secs: None,
            variable: None,
        }
    }

    fn rule(operator: Operator, value: Option<&str>) -> Rule {
        Rule {
            variable: "local.party_size".into(),
            operator,
            value: value.map(Into::into),
            case_sensitive: false,
        }
    }

    fn condition(ids: &[&str]) -> ConditionConfig {
        let branch = |id: &&str| ConditionBranch {
            id: (*id).into(),
            name: None,
            combine: Default::default(),
            rules: vec![rule(Operator::GreaterThan, Some("4"))],
        };
        ConditionConfig {
            branches: ids.iter().map(branch).collect(),
        }
    }

    fn wait() -> WaitConfig {
        WaitConfig {
            event: "paid".into(),
            timeout_secs: None,
            variable: None,
        }
    }

    fn request(url: &str) -> ApiRequestConfig {
        ApiRequestConfig {
            method: Default::default(),
            url: url.into(),
            headers: Default::default(),
            body: None,
            mapping: Vec::new(),
            timeout_secs: None,
        }
    }

    fn api() -> ApiConfig {
        ApiConfig {
            definition: None,
            request: Some(request("https://example.com/rooms")),
            post_process: None,
        }
    }

    fn mapping(variable: &str, path: &str) -> ResponseMapping {
        ResponseMapping {
            variable: variable.into(),
            path: path.into(),
        }
    }

    fn ai_agent() -> AiAgentConfig {
        AiAgentConfig {
            agent: None,
            system_prompt: "Be kind".into(),
            knowledge: None,
            tools: Vec::new(),
            loop_cap: 50,
        }
    }

    fn transfer(target: TransferTarget) -> TransferConfig {
        TransferConfig {
            target,
            message: None,
        }
    }

    fn team() -> TransferTarget {
        TransferTarget::Team {
            team_id: "sales".into(),
        }
    }

    fn goal() -> GoalConfig {
        GoalConfig {
            goal_id: "booking".into(),
            milestone_id: "paid".into(),
            trackers: [("amount".to_owned(), "{{local.total}}".to_owned())].into(),
        }
    }

    fn variable(name: &str) -> VariableDef {
        VariableDef {
            name: name.into(),
            scope: VariableScope::Local,
            value_type: Default::default(),
            default: None,
        }
    }

    /// One valid step of each kind but Start.
    fn every_kind() -> Vec<StepKind> {
        let document = MediaConfig {
            caption: Some("Our menu".into()),
            filename: Some("menu.pdf".into()),
            ..media()
        };
        vec![
            Text(TextConfig {
                variable: Some("local.greeting".into()),
                ..text("Hello {{contact_name}}")
            }),
            Image(media()),
            Video(media()),
            Audio(media()),
            Document(document),
            Location(location(38.7, -9.1)),
            CtaUrl(cta()),
            Template(template()),
            Reply(choices(3)),
            QuickReply(choices(10)),
            List(list(2, 3)),
            Prompt(prompt()),
            PromptDate(prompt_date()),
            Condition(condition(&["big", "small"])),
            Delay(DelayConfig { seconds: 86_400 }),
            WaitForEvents(wait()),
            Api(api()),
            AiAgent(ai_agent()),
            AgentTransfer(transfer(team())),
            Goal(goal()),
        ]
    }

    /// Each problem as `code field`, or `code` when it is on no field.
    fn summary(journey: &Journey) -> Vec<String> {
        let line = |problem: ValidationProblem| match problem.field {
            Some(field) => format!("{} {field}", problem.code),
            None => problem.code.to_owned(),
        };
        validate(journey).into_iter().map(line).collect()
    }

    #[track_caller]
    fn check(case: &str, journey: &Journey, expected: &[&str]) {
        assert_eq!(summary(journey), expected, "{case}");
    }

    #[test]
    fn the_greeting_journey_is_valid() {
        check("greeting", &Journey::greeting("Hi"), &[]);
    }

    #[test]
    fn a_valid_step_of_every_kind_passes() {
        let kinds = every_kind();
        assert_eq!(kinds.len(), 20, "every kind but Start");
        for kind in kinds {
            check(kind.name(), &with_step(kind.clone()), &[]);
        }
    }

    /// A text field: `build(n)` puts `n` characters in it, which is fine up to `max` and
    /// `field_too_long` past it; a required field is also `field_empty` at 0 and fine at 1.
    type TextLimit = (fn(i64) -> Journey, i64, &'static str, bool);

    #[rustfmt::skip]
    const TEXT_LIMITS: &[TextLimit] = &[
        (|n| with(Image, media(), |c| c.url = url(n)), 2_048, "url", false),
        (|n| with(Video, media(), |c| c.caption = Some(chars(n))), 1_024, "caption", false),
        (|n| with(Document, media(), |c| c.filename = Some(chars(n))), 240, "filename", false),
        (|n| with(Location, location(0.0, 0.0), |c| c.name = Some(chars(n))), 1_000, "name", false),
        (|n| with(Location, location(0.0, 0.0), |c| c.address = Some(chars(n))), 1_000, "address", false),
        (|n| with(CtaUrl, cta(), |c| c.header = Some(Header::Text { text: chars(n) })), 60, "header.text", false),
        (|n| with(CtaUrl, cta(), |c| c.body = chars(n)), 1_024, "body", true),
        (|n| with(CtaUrl, cta(), |c| c.footer = Some(chars(n))), 60, "footer", false),
        (|n| with(CtaUrl, cta(), |c| c.button_text = chars(n)), 20, "button_text", true),
        (|n| with(CtaUrl, cta(), |c| c.url = url(n)), 2_048, "url", false),
        (|n| with(Template, template(), |c| c.name = ascii(n)), 512, "name", true),
        (|n| with(Template, template(), |c| c.parameters.push(chars(n))), 1_024, "parameters[1]", true),
        (|n| with(Reply, choices(1), |c| c.header = Some(Header::Text { text: chars(n) })), 60, "header.text", false),
        (|n| with(Reply, choices(1), |c| c.body = chars(n)), 1_024, "body", true),
        (|n| with(Reply, choices(1), |c| c.footer = Some(chars(n))), 60, "footer", false),
        (|n| with(Reply, choices(3), |c| c.choices[2].title = chars(n)), 20, "choices[2].title", true),
        (|n| with(Reply, choices(1), |c| c.choices[0].id = chars(n)), 256, "choices[0].id", true),
        (|n| with(QuickReply, choices(1), |c| c.body = chars(n)), 1_024, "body", true),
        (|n| with(QuickReply, choices(1), |c| c.footer = Some(chars(n))), 60, "footer", false),
        (|n| with(QuickReply, choices(4), |c| c.choices[3].title = chars(n)), 24, "choices[3].title", true),
        (|n| with(QuickReply, choices(1), |c| c.choices[0].id = chars(n)), 256, "choices[0].id", true),
        (|n| with(List, list(1, 1), |c| c.header = Some(chars(n))), 60, "header", false),
        (|n| with(List, list(1, 1), |c| c.body = chars(n)), 1_024, "body", true),
        (|n| with(List, list(1, 1), |c| c.footer = Some(chars(n))), 60, "footer", false),
        (|n| with(List, list(1, 1), |c| c.button_text = chars(n)), 20, "button_text", true),
        // With more than one section, each needs a title.
        (|n| with(List, list(2, 1), |c| c.sections[1].title = Some(chars(n))), 24, "sections[1].title", true),
        (|n| with(List, list(1, 4), |c| c.sections[0].rows[3].title = chars(n)), 24,
            "sections[0].rows[3].title", true),
        (|n| with(List, list(1, 4), |c| c.sections[0].rows[3].description = Some(chars(n))), 72,
            "sections[0].rows[3].description", false),
        (|n| with(List, list(2, 1), |c| c.sections[1].rows[0].id = chars(n)), 200, "sections[1].rows[0].id", true),
        (|n| with(Prompt, prompt(), |c| c.question = chars(n)), 4_096, "question", true),
        (|n| with(PromptDate, prompt_date(), |c| c.question = chars(n)), 4_096, "question", true),
        (|n| with(WaitForEvents, wait(), |c| c.event = chars(n)), 256, "event", true),
        (|n| with_request(|r| r.url = url(n)), 2_048, "request.url", false),
        (|n| with(AgentTransfer, transfer(team()), |c| c.message = Some(chars(n))), 4_096, "message", false),
        (|n| declaring(&[&ascii(n)]), 64, "variables[0].name", true),
        (|n| with(Text, text("Hi"), |c| c.variable = Some(format!("campaign.{}", ascii(n)))), 64,
            "variable", false),
    ];

    #[test]
    fn every_text_limit_holds_at_its_length_and_fails_one_past_it() {
        for &(build, max, field, required) in TEXT_LIMITS {
            let kind = build(max)
                .step(STEP)
                .map_or("journey", |step| step.kind.name());
            let case = |n| format!("{kind} {field} of {n} characters");
            check(&case(max), &build(max), &[]);
            let too_long = format!("field_too_long {field}");
            check(&case(max + 1), &build(max + 1), &[&too_long]);
            if required {
                check(&case(1), &build(1), &[]);
                check(&case(0), &build(0), &[&format!("field_empty {field}")]);
            }
        }
    }

    /// Any other limit: `build(passes)` is valid, `build(fails)` has the one `problem`.
    type Boundary = (&'static str, fn(i64) -> Journey, i64, i64, &'static str);

    #[rustfmt::skip]
    const BOUNDARIES: &[Boundary] = &[
        ("text", |n| with(Text, text(""), |c| c.text = chars(n)), 4_096, 4_097, "text_too_long text"),
        ("text", |n| with(Text, text(""), |c| c.text = chars(n)), 1, 0, "text_empty text"),
        ("latitude", |n| with_step(Location(location(n as f64, 0.0))), 90, 91, "coordinate_out_of_range latitude"),
        ("latitude", |n| with_step(Location(location(n as f64, 0.0))), -90, -91, "coordinate_out_of_range latitude"),
        ("longitude", |n| with_step(Location(location(0.0, n as f64))), 180, 181, "coordinate_out_of_range longitude"),
        ("longitude", |n| with_step(Location(location(0.0, n as f64))), -180, -181, "coordinate_out_of_range longitude"),
        ("reply", |n| with_step(Reply(choices(count(n)))), 3, 4, "too_many_choices choices"),
        ("reply", |n| with_step(Reply(choices(count(n)))), 1, 0, "too_few_choices choices"),
        ("quick reply", |n| with_step(QuickReply(choices(count(n)))), 10, 11, "too_many_choices choices"),
        ("quick reply", |n| with_step(QuickReply(choices(count(n)))), 1, 0, "too_few_choices choices"),
        ("list", |n| with_step(List(list(count(n), 1))), 10, 11, "too_many_sections sections"),
        ("list", |n| with_step(List(list(count(n), 1))), 1, 0, "too_few_sections sections"),
        ("list", |n| with_step(List(list(1, count(n)))), 10, 11, "too_many_rows sections[0].rows"),
        ("list", |n| with_step(List(list(1, count(n)))), 1, 0, "too_few_rows sections[0].rows"),
        ("delay", |n| with_step(Delay(DelayConfig { seconds: n.unsigned_abs() })), 1, 0, "delay_out_of_range seconds"),
        ("wait", |n| with(WaitForEvents, wait(), |c| c.timeout_secs = Some(n.unsigned_abs())), 1, 0,
            "timeout_out_of_range timeout_secs"),
        ("api", |n| with_request(|r| r.timeout_secs = Some(n.unsigned_abs())), 1, 0,
            "timeout_out_of_range request.timeout_secs"),
        ("api", |n| with_request(|r| r.timeout_secs = Some(n.unsigned_abs())), 300, 301,
            "timeout_out_of_range request.timeout_secs"),
        ("ai agent", |n| with(AiAgent, ai_agent(), |c| c.loop_cap = n.try_into().expect("small")), 1, 0,
            "loop_cap_out_of_range loop_cap"),
        ("ai agent", |n| with(AiAgent, ai_agent(), |c| c.loop_cap = n.try_into().expect("small")), 200, 201,
            "loop_cap_out_of_range loop_cap"),
    ];

    #[test]
    fn every_other_limit_holds_at_its_value_and_fails_one_past_it() {
        for &(case, build, passes, fails, problem) in BOUNDARIES {
            check(&format!("{case} at {passes}"), &build(passes), &[]);
            check(&format!("{case} at {fails}"), &build(fails), &[problem]);
        }
    }

    #[test]
    fn every_input_step_limits_retries_failure_message_and_timeout() {
        type Settings = (Retries, Option<String>, Option<u64>);
        type Build = fn(Settings) -> StepKind;
        let kinds: [(&str, Build); 5] = [
            ("reply", |(retries, failure_message, timeout_secs)| {
                Reply(ChoicesConfig {
                    retries,
                    failure_message,
                    timeout_secs,
                    ..choices(1)
                })
            }),
            ("quick reply", |(retries, failure_message, timeout_secs)| {
                QuickReply(ChoicesConfig {
                    retries,
                    failure_message,
                    timeout_secs,
                    ..choices(1)
                })
            }),
            ("list", |(retries, failure_message, timeout_secs)| {
                List(ListConfig {
                    retries,
                    failure_message,
                    timeout_secs,
                    ..list(1, 1)
                })
            }),
            ("prompt", |(retries, failure_message, timeout_secs)| {
                Prompt(PromptConfig {
                    retries,
                    failure_message,
                    timeout_secs,
                    ..prompt()
                })
            }),
            ("prompt date", |(retries, failure_message, timeout_secs)| {
                PromptDate(PromptDateConfig {
                    retries,
                    failure_message,
                    timeout_secs,
                    ..prompt_date()
                })
            }),
        ];
        let (retries, timeout) = (
            "retries_out_of_range retries",
            "timeout_out_of_range timeout_secs",
        );
        #[rustfmt::skip]
        let cases: [(Settings, &[&str]); 10] = [
            ((Retries::Count(0), None, None), &[]),
            ((Retries::Count(5), None, None), &[]),
            ((Retries::Count(6), None, None), &[retries]),
            ((Retries::UNLIMITED, None, None), &[]),
            ((Retries::Count(1), Some(chars(4_096)), None), &[]),
            ((Retries::Count(1), Some(chars(4_097)), None), &["field_too_long failure_message"]),
            ((Retries::Count(1), None, Some(10)), &[]),
            ((Retries::Count(1), None, Some(9)), &[timeout]),
            ((Retries::Count(1), None, Some(3_600)), &[]),
            ((Retries::Count(1), None, Some(3_601)), &[timeout]),
        ];
        for (kind, build) in kinds {
            for (settings, expected) in &cases {
                let case = format!("{kind} {settings:?}");
                check(&case, &with_step(build(settings.clone())), expected);
            }
        }
    }

    #[test]
    fn messages_name_the_limit_and_the_actual_value() {
        let journey = with(CtaUrl, cta(), |c| c.body = chars(1_025));
        assert_eq!(
            validate(&journey),
            [ValidationProblem {
                code: "field_too_long",
                step_id: Some(STEP.into()),
                field: Some("body".into()),
                message: "the body has 1,025 characters; the limit is 1,024".into(),
            }]
        );
        #[rustfmt::skip]
        let cases = [
            (with(Text, text(""), |c| c.text = ascii(4_097)),
                "the text has 4,097 characters; the limit is 4,096"),
            (with(List, list(1, 4), |c| c.sections[0].rows[3].description = Some(ascii(73))),
                "the description of row 4 of section 1 has 73 characters; the limit is 72"),
            (with(Template, template(), |c| c.parameters.push(String::new())),
                "parameter 2 is empty; it needs 1 to 1,024 characters"),
            (with(Reply, choices(4), |_| {}),
                "the step has 4 choices; a Reply step allows at most 3"),
            (with(Prompt, prompt(), |c| c.timeout_secs = Some(5)),
                "the timeout is 5 seconds; it must be between 10 and 3,600 seconds"),
            (with(Delay, DelayConfig { seconds: 0 }, |_| {}),
                "the delay is 0 seconds; it must be at least 1 second"),
            (with(Prompt, prompt(), |c| c.retries = Retries::Count(9)),
                "retries is 9; it must be 0 to 5, or unlimited"),
            (with(Location, location(91.5, 0.0), |_| {}),
                "the latitude is 91.5; it must be between -90 and 90"),
            (with(Prompt, prompt(), |c| c.validation = Validation::Regex { pattern: "(a".into() }),
                "the validation pattern is not a valid regular expression: unclosed group"),
            (with(CtaUrl, cta(), |c| c.header = Some(Header::Image { url: "ftp://x.io/a".into() })),
                "the header URL uses the `ftp` scheme; only http and https work"),
            (with(Condition, condition(&["big"]), |c| c.branches[0].rules[0].value = None),
                "the value of rule 1 of branch 1 is missing"),
        ];
        for (journey, message) in cases {
            let messages: Vec<_> = validate(&journey).into_iter().map(|p| p.message).collect();
            assert_eq!(messages, [message]);
        }
    }

    #[test]
    fn problems_serialise_without_absent_fields() {
        let mut journey = declaring(&["today"]);
        journey.steps.truncate(1);
        journey.connections.clear();
        insta::assert_json_snapshot!(validate(&journey), @r###"
        [
          {
            "code": "no_other_steps",
            "message": "add at least one step after Start"
          },
          {
            "code": "system_variable_read_only",
            "field": "variables[0].name",
            "message": "`today` is a system variable; give this one another name"
          }
        ]
        "###);
        let problems = validate(&with(Text, text(""), |_| {}));
        insta::assert_json_snapshot!(problems, @r###"
        [
          {
            "code": "text_empty",
            "step_id": "s",
            "field": "text",
            "message": "the text is empty; it needs 1 to 4,096 characters"
          }
        ]
        "###);
    }

    #[test]
    fn every_problem_is_reported_at_once_in_order() {
        let mut journey = with(Reply, choices(4), |config| {
            config.choices[1].id = "c0".into();
            config.body = String::new();
        });
        journey.steps[1].kind = Text(text("  "));
        journey.connections.push(edge(STEP, "missing", Some("c0")));
        journey
            .connections
            .push(edge(STEP, "greeting", Some("maybe")));
        journey.variables = vec![variable("nights"), variable("nights")];
        journey.api_definitions.push(ApiDefinition {
            description: None,
            parameters: Vec::new(),
            name: "rooms".into(),
            request: request("ftp://example.com"),
        });
        check(
            "many problems",
            &journey,
            &[
                "text_empty text",
                "field_empty body",
                "too_many_choices choices",
                "duplicate_choice_id choices[1].id",
                "connection_to_missing_step",
                "unknown_edge_label",
                "variable_name_taken variables[1].name",
                "invalid_url api_definitions[0].url",
            ],
        );
        let steps: Vec<_> = validate(&journey).into_iter().map(|p| p.step_id).collect();
        let on = |id: &str| Some(id.to_owned());
        let expected = [
            on("greeting"),
            on(STEP),
            on(STEP),
            on(STEP),
            on(STEP),
            on(STEP),
        ];
        assert_eq!(steps[..6], expected);
        assert_eq!(steps[6..], [None, None]);
    }

    #[test]
    fn the_graph_needs_one_start_other_steps_and_unique_ids() {
        let cases: [(&str, Edit<Journey>, Expected<'_>); 6] = [
            (
                "no start",
                |journey| {
                    journey.steps.remove(0);
                    journey.connections.clear();
                },
                &["start_step_count"],
            ),
            (
                "two starts",
                |journey| {
                    let start = journey.steps[0].clone();
                    journey.steps.push(Step {
                        id: "again".into(),
                        ..start
                    });
                },
                &["start_step_count"],
            ),
            (
                "only start",
                |journey| {
                    journey.steps.truncate(1);
                    journey.connections.clear();
                },
                &["no_other_steps"],
            ),
            (
                "no steps",
                |journey| {
                    journey.steps.clear();
                    journey.connections.clear();
                },
                &["start_step_count", "no_other_steps"],
            ),
            (
                "duplicate id",
                |journey| journey.steps.push(journey.steps[1].clone()),
                &["duplicate_step_id"],
            ),
            (
                "blank id, whose problems are placed by index",
                |journey| {
                    journey.steps.push(Step {
                        id: " ".into(),
                        kind: Text(text("")),
                        ..journey.steps[1].clone()
                    });
                },
                &[
                    "empty_step_id steps[2].id",
                    "text_empty steps[2].config.text",
                ],
            ),
        ];
        for (case, edit, expected) in cases {
            check(case, &edited(Journey::greeting("Hi"), edit), expected);
        }
    }

    #[test]
    fn connections_join_existing_steps_never_enter_start_and_never_repeat() {
        #[rustfmt::skip]
        let cases: [(Connection, &[&str]); 5] = [
            (edge("gone", "greeting", None), &["connection_to_missing_step"]),
            (edge("greeting", "gone", None), &["connection_to_missing_step"]),
            (edge("greeting", START_STEP_ID, None), &["edge_into_start"]),
            (edge(START_STEP_ID, "greeting", None), &["duplicate_connection"]),
            // An unlabelled edge stands for `success`.
            (edge(START_STEP_ID, "greeting", Some("success")), &["duplicate_connection"]),
        ];
        for (connection, expected) in cases {
            let case = format!("{connection:?}");
            let journey = edited(Journey::greeting("Hi"), |journey| {
                journey.connections.push(connection);
            });
            check(&case, &journey, expected);
        }
        let missing = edited(Journey::greeting("Hi"), |journey| {
            journey.connections.push(edge("gone", "greeting", None));
        });
        assert_eq!(
            validate(&missing)[0].step_id,
            None,
            "there is no step to be on"
        );
    }

    #[test]
    fn edge_labels_must_be_exits_of_their_step_kind() {
        #[rustfmt::skip]
        let cases: Vec<(StepKind, &[&str], &[&str])> = vec![
            (Reply(choices(2)), &["c0", "c1", "failure", "timeout"], &["success", "c2", "transfer", ""]),
            (QuickReply(choices(1)), &["c0", "failure", "timeout"], &["success", "fallback"]),
            (List(list(2, 1)), &["r0_0", "r1_0", "failure", "timeout"], &["success", "c0"]),
            (Prompt(prompt()), &["success", "failure", "timeout"], &["transfer", "fallback"]),
            (PromptDate(prompt_date()), &["success", "failure", "timeout"], &["transfer"]),
            (Condition(condition(&["big", "small"])), &["big", "small", "fallback"], &["success", "huge"]),
            (WaitForEvents(wait()), &["success", "timeout"], &["failure"]),
            (Api(api()), &["success", "failure"], &["timeout", "transfer"]),
            (AiAgent(ai_agent()), &["success", "transfer", "failure"], &["timeout"]),
        ];
        let special: Vec<_> = cases.iter().map(|(kind, ..)| kind.name()).collect();
        let others = every_kind()
            .into_iter()
            .filter(|kind| !special.contains(&kind.name()) && !matches!(kind, AgentTransfer(_)));
        let others: Vec<(StepKind, &[&str], &[&str])> = others
            .map(|kind| -> (StepKind, &[&str], &[&str]) {
                (kind, &["success"], &["failure", "timeout"])
            })
            .collect();
        assert_eq!(
            cases.len() + others.len(),
            19,
            "every kind but Start and Agent Transfer"
        );
        for (kind, allowed, refused) in cases.into_iter().chain(others) {
            let leaving = |label: Option<&str>| {
                edited(with_step(kind.clone()), |journey| {
                    journey.connections.push(edge(STEP, "greeting", label));
                })
            };
            let name = kind.name();
            check(&format!("{name} unlabelled"), &leaving(None), &[]);
            for label in allowed.iter() {
                check(&format!("{name} {label}"), &leaving(Some(label)), &[]);
            }
            for label in refused.iter() {
                let case = format!("{name} {label}");
                check(&case, &leaving(Some(label)), &["unknown_edge_label"]);
            }
        }
        let start = edited(Journey::greeting("Hi"), |journey| {
            journey.connections[0].label = Some("failure".into());
        });
        check("start", &start, &["unknown_edge_label"]);
    }

    #[test]
    fn an_unlabelled_edge_is_the_exit_it_stands_for() {
        let twice = |kind: StepKind, label: &str| {
            edited(with_step(kind), |journey| {
                journey.connections.push(edge(STEP, "greeting", None));
                journey
                    .connections
                    .push(edge(STEP, "greeting", Some(label)));
            })
        };
        let duplicate: &[&str] = &["duplicate_connection"];
        let condition = Condition(condition(&["big"]));
        check("fallback", &twice(condition.clone(), "fallback"), duplicate);
        check("a branch", &twice(condition, "big"), &[]);
        check("success", &twice(Prompt(prompt()), "success"), duplicate);
        check("a choice", &twice(Reply(choices(1)), "c0"), &[]);
        let journey = edited(with_step(Reply(choices(1))), |journey| {
            journey.connections.push(edge(STEP, "greeting", None));
            journey.connections.push(edge(STEP, "greeting", None));
        });
        check("two unlabelled", &journey, duplicate);
    }

    #[test]
    fn an_agent_transfer_has_no_exits() {
        for label in [None, Some("success"), Some("failure")] {
            let journey = edited(with_step(AgentTransfer(transfer(team()))), |journey| {
                journey.connections.push(edge(STEP, "greeting", label));
            });
            check(&format!("{label:?}"), &journey, &["transfer_has_exits"]);
        }
    }

    #[test]
    fn urls_are_http_or_https_unless_interpolated() {
        #[rustfmt::skip]
        let cases: [(&str, &[&str]); 9] = [
            ("https://example.com/a.png", &[]),
            ("http://example.com/a.png", &[]),
            ("https://{{campaign.cdn}}/a.png", &[]),
            ("{{local.picture}}", &[]),
            ("", &["field_empty url"]),
            (" ", &["field_empty url"]),
            ("ftp://example.com/a.png", &["invalid_url url"]),
            ("example.com/a.png", &["invalid_url url"]),
            ("https://", &["invalid_url url"]),
        ];
        for (url, expected) in cases {
            check(url, &with(Image, media(), |c| c.url = url.into()), expected);
            check(url, &with(CtaUrl, cta(), |c| c.url = url.into()), expected);
            let api: Vec<_> = expected
                .iter()
                .map(|p| p.replace(" url", " request.url"))
                .collect();
            let api: Vec<_> = api.iter().map(String::as_str).collect();
            check(url, &with_request(|r| r.url = url.into()), &api);
        }
        let image = |url: &str| Header::Image { url: url.into() };
        #[rustfmt::skip]
        let headers: [(Header, &[&str]); 5] = [
            (image("https://x.io/a.png"), &[]),
            (image("https://{{local.host}}/a.png"), &[]),
            (Header::Video { url: "".into() }, &["field_empty header.url"]),
            (Header::Document { url: "ftp://x.io/a".into() }, &["invalid_url header.url"]),
            (Header::Text { text: "Hi".into() }, &[]),
        ];
        for (header, expected) in headers {
            let case = format!("{header:?}");
            let cta = with(CtaUrl, cta(), |c| c.header = Some(header.clone()));
            check(&case, &cta, expected);
            let reply = with(Reply, choices(1), |c| c.header = Some(header));
            check(&case, &reply, expected);
        }
    }

    #[test]
    fn captions_and_file_names_go_only_where_they_are_shown() {
        let with_texts = |caption: &str, filename: &str| MediaConfig {
            caption: Some(caption.into()).filter(|text: &String| text != "-"),
            filename: Some(filename.into()).filter(|text: &String| text != "-"),
            ..media()
        };
        let (caption, filename) = (
            "caption_not_supported caption",
            "filename_not_supported filename",
        );
        #[rustfmt::skip]
        let cases: [(StepKind, &[&str]); 7] = [
            (Audio(with_texts("Listen", "-")), &[caption]),
            // A blank optional text counts as absent.
            (Audio(with_texts(" ", "")), &[]),
            (Image(with_texts("Look", "a.png")), &[filename]),
            (Video(with_texts("Watch", "a.mp4")), &[filename]),
            (Audio(with_texts("-", "a.ogg")), &[filename]),
            (Audio(with_texts("Listen", "a.ogg")), &[caption, filename]),
            (Document(with_texts("Menu", "menu.pdf")), &[]),
        ];
        for (kind, expected) in cases {
            check(&format!("{kind:?}"), &with_step(kind), expected);
        }
    }

    #[test]
    fn coordinates_must_be_finite() {
        for degrees in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let latitude = with_step(Location(location(degrees, 0.0)));
            check("latitude", &latitude, &["coordinate_out_of_range latitude"]);
            let longitude = with_step(Location(location(0.0, degrees)));
            check(
                "longitude",
                &longitude,
                &["coordinate_out_of_range longitude"],
            );
        }
    }

    #[test]
    fn templates_need_a_plain_name_and_a_language_code() {
        let (name, language) = (
            "invalid_template_name name",
            "invalid_language_code language",
        );
        #[rustfmt::skip]
        let cases: [(&str, &str, &[&str]); 11] = [
            ("order_update_2", "en", &[]),
            ("hello", "pt_BR", &[]),
            ("hello", "fil", &[]),
            ("Hello", "en", &[name]),
            ("order-update", "en", &[name]),
            ("olá", "en", &[name]),
            ("hello", " ", &["field_empty language"]),
            ("hello", "english", &[language]),
            ("hello", "EN", &[language]),
            ("hello", "en-US", &[language]),
            ("hello", "en_us", &[language]),
        ];
        for (template_name, code, expected) in cases {
            let journey = with(Template, template(), |c| {
                c.name = template_name.into();
                c.language = code.into();
            });
            check(&format!("{template_name} {code}"), &journey, expected);
        }
    }

    #[test]
    fn choice_ids_are_unique_and_unreserved_and_synonyms_not_blank() {
        #[rustfmt::skip]
        let cases: [(Edit<ChoicesConfig>, Expected<'_>); 5] = [
            (|c| c.choices[2].id = "c0".into(), &["duplicate_choice_id choices[2].id"]),
            (|c| c.choices[0].id = "failure".into(), &["reserved_choice_id choices[0].id"]),
            (|c| c.choices[1].id = "timeout".into(), &["reserved_choice_id choices[1].id"]),
            (|c| c.choices[1].id = "success".into(), &["reserved_choice_id choices[1].id"]),
            (|c| c.choices[1].synonyms = vec!["yes".into(), " ".into()], &["field_empty choices[1].synonyms[1]"]),
        ];
        for (edit, expected) in cases {
            check("reply", &with(Reply, choices(3), edit), expected);
            check("quick reply", &with(QuickReply, choices(3), edit), expected);
        }
    }

    #[test]
    fn list_rows_are_unique_across_sections_which_need_titles_when_many() {
        #[rustfmt::skip]
        let cases: [(Edit<ListConfig>, Expected<'_>); 5] = [
            (|c| c.sections[1].rows[1].id = "r0_0".into(), &["duplicate_choice_id sections[1].rows[1].id"]),
            (|c| c.sections[0].rows[0].id = "timeout".into(), &["reserved_choice_id sections[0].rows[0].id"]),
            (|c| c.sections[1].title = None, &["field_empty sections[1].title"]),
            (|c| c.sections[0].title = Some(" ".into()), &["field_empty sections[0].title"]),
            (|c| { c.sections.truncate(1); c.sections[0].title = None; }, &[]),
        ];
        for (edit, expected) in cases {
            check("list", &with(List, list(2, 2), edit), expected);
        }
    }

    #[test]
    fn prompt_validation_needs_a_compiling_pattern_or_a_criterion() {
        let regex = |pattern: &str| Validation::Regex {
            pattern: pattern.into(),
        };
        let ai = |criterion: &str| Validation::Ai {
            criterion: criterion.into(),
        };
        let invalid: &[&str] = &["invalid_regex validation.pattern"];
        #[rustfmt::skip]
        let cases: [(Validation, &[&str]); 9] = [
            (regex(r"^\d{4}$"), &[]),
            (regex(""), &["field_empty validation.pattern"]),
            (regex("[a-"), invalid),
            // Compiles, but to far more than the size limit.
            (regex(r"\w{1000}{1000}"), invalid),
            (ai("a full name"), &[]),
            (ai(" "), &["field_empty validation.criterion"]),
            (Validation::Email, &[]),
            (Validation::Phone, &[]),
            (Validation::Number, &[]),
        ];
        for (validation, expected) in cases {
            let case = format!("{validation:?}");
            check(
                &case,
                &with(Prompt, prompt(), |c| c.validation = validation),
                expected,
            );
        }
    }

    #[test]
    fn prompt_dates_need_an_ordered_range_and_a_day_left() {
        use Weekday::*;
        let day = |day| NaiveDate::from_ymd_opt(2027, 3, day).expect("a March date");
        let custom = |from, to| DateRange::Custom { from, to };
        let weekdays = vec![Monday, Tuesday, Wednesday, Thursday, Friday, Saturday];
        let week = [weekdays.clone(), vec![Sunday]].concat();
        #[rustfmt::skip]
        let cases: [(DateRange, Vec<Weekday>, &[&str]); 7] = [
            (custom(Some(day(1)), Some(day(1))), vec![], &[]),
            (custom(Some(day(2)), Some(day(1))), vec![], &["invalid_date_range range"]),
            (custom(Some(day(2)), None), vec![], &[]),
            (DateRange::Future, vec![Saturday, Sunday], &[]),
            (DateRange::All, weekdays, &[]),
            (DateRange::All, week, &["all_weekdays_excluded excluded_weekdays"]),
            (DateRange::All, vec![Sunday, Monday, Sunday], &["duplicate_weekday excluded_weekdays[2]"]),
        ];
        for (range, excluded_weekdays, expected) in cases {
            let case = format!("{range:?} {excluded_weekdays:?}");
            let journey = with(PromptDate, prompt_date(), |c| {
                c.range = range;
                c.excluded_weekdays = excluded_weekdays;
            });
            check(&case, &journey, expected);
        }
    }

    #[test]
    fn conditions_need_branches_with_unique_ids_and_complete_rules() {
        #[rustfmt::skip]
        let cases: [(Edit<ConditionConfig>, Expected<'_>); 9] = [
            (|c| c.branches.clear(), &["no_branches branches"]),
            (|c| c.branches[1].id = "".into(), &["field_empty branches[1].id"]),
            (|c| c.branches[1].id = "big".into(), &["duplicate_branch_id branches[1].id"]),
            (|c| c.branches[0].id = "fallback".into(), &["reserved_branch_id branches[0].id"]),
            (|c| c.branches[0].id = "success".into(), &["reserved_branch_id branches[0].id"]),
            (|c| c.branches[1].rules.clear(), &["no_rules branches[1].rules"]),
            (|c| c.branches[0].rules[0].variable = " ".into(), &["field_empty branches[0].rules[0].variable"]),
            (|c| c.branches[0].rules[0] = rule(Operator::MatchesRegex, Some("(")),
                &["invalid_regex branches[0].rules[0].value"]),
            // An interpolated pattern is only known when the journey runs.
            (|c| c.branches[0].rules[0] = rule(Operator::MatchesRegex, Some("^{{local.prefix}}(")), &[]),
        ];
        for (edit, expected) in cases {
            check(
                "condition",
                &with(Condition, condition(&["big", "small"]), edit),
                expected,
            );
        }
    }

    #[test]
    fn every_operator_but_exists_and_not_exists_needs_a_value() {
        use Operator::*;
        let operators = [
            Equals,
            NotEquals,
            GreaterThan,
            LessThan,
            Contains,
            StartsWith,
            EndsWith,
            MatchesRegex,
            Exists,
            NotExists,
        ];
        let missing = "rule_value_missing branches[0].rules[1].value";
        for operator in operators {
            let needs_value = !matches!(operator, Exists | NotExists);
            // A space is a value: `contains " "` means something.
            for value in [None, Some(""), Some(" ")] {
                let journey = with(Condition, condition(&["big"]), |c| {
                    c.branches[0].rules.push(rule(operator, value));
                });
                let expected: &[&str] = match value {
                    None | Some("") if needs_value => &[missing],
                    _ => &[],
                };
                check(&format!("{operator:?} {value:?}"), &journey, expected);
            }
        }
    }

    #[test]
    fn api_steps_use_a_known_definition_or_a_request_of_their_own() {
        #[rustfmt::skip]
        let cases: [(Edit<ApiConfig>, Expected<'_>); 8] = [
            (|_| {}, &[]),
            (|c| { c.request = None; c.definition = Some("rooms".into()); }, &[]),
            (|c| c.request = None, &["api_request_missing"]),
            (|c| c.definition = Some("rooms".into()), &["api_request_ambiguous"]),
            (|c| { c.request = None; c.definition = Some("prices".into()); }, &["api_definition_not_found definition"]),
            (|c| { c.request = None; c.definition = Some("".into()); }, &["field_empty definition"]),
            // Both, and each wrong: every problem is reported.
            (|c| { c.definition = Some("prices".into()); c.request = Some(request("mailto:a@b.c")); },
                &["api_request_ambiguous", "api_definition_not_found definition", "invalid_url request.url"]),
            (|c| c.post_process = Some(PostProcess { prompt: "".into(), variable: "".into() }),
                &["field_empty post_process.prompt", "field_empty post_process.variable"]),
        ];
        for (edit, expected) in cases {
            let mut journey = with(Api, api(), edit);
            journey.api_definitions.push(ApiDefinition {
                description: None,
                parameters: Vec::new(),
                name: "rooms".into(),
                request: request("https://example.com/rooms"),
            });
            check(&format!("{expected:?}"), &journey, expected);
        }
    }

    #[test]
    fn api_definitions_are_checked_like_requests_and_named_uniquely() {
        let definition = |name: &str, request| ApiDefinition {
            description: None,
            parameters: Vec::new(),
            name: name.into(),
            request,
        };
        let mut journey = Journey::greeting("Hi");
        journey.api_definitions = vec![
            definition("rooms", request("https://example.com/rooms")),
            definition(
                "rooms",
                ApiRequestConfig {
                    timeout_secs: Some(301),
                    mapping: vec![mapping("system.today", "$..price")],
                    ..request("gopher://example.com")
                },
            ),
            definition("", request("https://{{campaign.host}}/x")),
        ];
        check(
            "definitions",
            &journey,
            &[
                "duplicate_api_definition api_definitions[1].name",
                "invalid_url api_definitions[1].url",
                "timeout_out_of_range api_definitions[1].timeout_secs",
                "system_variable_read_only api_definitions[1].mapping[0].variable",
                "invalid_json_path api_definitions[1].mapping[0].path",
                "field_empty api_definitions[2].name",
            ],
        );
        let problems = validate(&journey);
        assert!(problems.iter().all(|problem| problem.step_id.is_none()));
        assert_eq!(
            problems[1].message,
            "API definition `rooms`: the URL uses the `gopher` scheme; only http and https work"
        );
        assert_eq!(problems[5].message, "API definition 3: the name is empty");
    }

    #[test]
    fn ai_agent_tools_are_known_definitions_with_distinct_names() {
        let definition = |name: &str| ApiDefinition {
            description: None,
            parameters: Vec::new(),
            name: name.into(),
            request: request("https://example.com/{{check_in}}"),
        };
        #[rustfmt::skip]
        let cases: [(&[&str], Expected<'_>); 6] = [
            (&["rooms", "book stay"], &[]),
            (&["prices"], &["api_definition_not_found tools[0]"]),
            (&[""], &["field_empty tools[0]"]),
            (&["rooms", "rooms"], &["duplicate_tool tools[1]"]),
            (&["book stay", "book_stay"], &["duplicate_tool tools[1]"]),
            (&["transfer to human"], &["reserved_tool_name tools[0]"]),
        ];
        for (tools, expected) in cases {
            let mut journey = with(AiAgent, ai_agent(), |c| {
                c.tools = tools.iter().map(|name| (*name).to_owned()).collect();
            });
            journey.api_definitions = ["rooms", "book stay", "book_stay", "transfer to human"]
                .into_iter()
                .map(definition)
                .collect();
            check(&format!("{tools:?}"), &journey, expected);
        }
    }

    #[test]
    fn api_definition_parameters_are_named_like_variables() {
        let parameter = |name: &str| ToolParameter {
            name: name.into(),
            description: None,
            kind: ParameterKind::String,
            required: true,
        };
        let mut journey = Journey::greeting("Hi");
        journey.api_definitions = vec![ApiDefinition {
            description: Some("d".repeat(TOOL_DESCRIPTION_MAX_CHARS + 1)),
            parameters: vec![
                parameter("check_in"),
                parameter("check-out"),
                parameter("today"),
                parameter("check_in"),
                ToolParameter {
                    description: Some("x".repeat(TOOL_DESCRIPTION_MAX_CHARS + 1)),
                    ..parameter("adults")
                },
            ],
            name: "rooms".into(),
            request: request("https://example.com/rooms"),
        }];
        check(
            "parameters",
            &journey,
            &[
                "field_too_long api_definitions[0].description",
                "invalid_parameter_name api_definitions[0].parameters[1].name",
                "invalid_parameter_name api_definitions[0].parameters[2].name",
                "duplicate_parameter api_definitions[0].parameters[3].name",
                "field_too_long api_definitions[0].parameters[4].description",
            ],
        );
    }

    #[test]
    fn response_mappings_need_a_variable_and_a_json_path() {
        let invalid = "invalid_json_path request.mapping[0].path";
        #[rustfmt::skip]
        let cases: [(&str, &[&str]); 15] = [
            ("$.price", &[]),
            ("$.rooms[0].name", &[]),
            ("rooms[0].price", &[]),
            ("price", &[]),
            ("$[0].id", &[]),
            ("$", &[]),
            ("$.a.b[0][12].c", &[]),
            ("", &["field_empty request.mapping[0].path"]),
            ("$.", &[invalid]),
            ("$..price", &[invalid]),
            ("rooms[x]", &[invalid]),
            ("rooms[0", &[invalid]),
            ("rooms]", &[invalid]),
            ("$price", &[invalid]),
            ("a b", &[invalid]),
        ];
        for (path, expected) in cases {
            let journey = with_request(|r| r.mapping = vec![mapping("price", path)]);
            check(path, &journey, expected);
        }
        let journey = with_request(|r| r.mapping = vec![mapping(" ", "$.price")]);
        check(
            "no variable",
            &journey,
            &["field_empty request.mapping[0].variable"],
        );
    }

    #[test]
    fn ai_agents_transfers_and_goals_name_what_they_use() {
        let user = |user_id: &str| TransferTarget::User {
            user_id: user_id.into(),
        };
        let blank_team = TransferTarget::Team {
            team_id: " ".into(),
        };
        let no_prompt = |agent: &str| AiAgentConfig {
            agent: Some(agent.into()),
            system_prompt: "".into(),
            ..ai_agent()
        };
        #[rustfmt::skip]
        let cases: [(StepKind, &[&str]); 8] = [
            (AiAgent(no_prompt("concierge")), &[]),
            (AiAgent(no_prompt(" ")), &["agent_prompt_missing system_prompt"]),
            (AgentTransfer(transfer(user("u1"))), &[]),
            (AgentTransfer(transfer(user(""))), &["field_empty target.user_id"]),
            (AgentTransfer(transfer(blank_team)), &["field_empty target.team_id"]),
            (Goal(GoalConfig { goal_id: "".into(), ..goal() }), &["field_empty goal_id"]),
            (Goal(GoalConfig { milestone_id: "".into(), ..goal() }), &["field_empty milestone_id"]),
            (Goal(edited(goal(), |c| { c.trackers.insert("".into(), "1".into()); })), &["field_empty trackers"]),
        ];
        for (kind, expected) in cases {
            check(&format!("{kind:?}"), &with_step(kind), expected);
        }
    }

    #[test]
    fn steps_store_only_into_local_and_campaign_variables() {
        let (read_only, invalid) = (
            "system_variable_read_only variable",
            "invalid_variable_name variable",
        );
        #[rustfmt::skip]
        let cases: [(&str, &[&str]); 21] = [
            ("nights", &[]),
            ("_nights2", &[]),
            ("local.nights", &[]),
            ("var_local.nights", &[]),
            ("campaign.season", &[]),
            ("var_campaign.season", &[]),
            (" nights ", &[]),
            ("", &["field_empty variable"]),
            ("system.today", &[read_only]),
            ("var_system.anything", &[read_only]),
            ("today", &[read_only]),
            ("last_input", &[read_only]),
            ("contact.name", &[read_only]),
            // System names are reserved in every scope, as for declared variables.
            ("local.contact_phone", &[read_only]),
            ("2nights", &[invalid]),
            ("nights!", &[invalid]),
            ("noche_ñ", &[invalid]),
            ("local.", &[invalid]),
            ("local.a.b", &[invalid]),
            ("session.nights", &[invalid]),
            (".nights", &[invalid]),
        ];
        for (reference, expected) in cases {
            let journey = with(Text, text("Hi"), |c| c.variable = Some(reference.into()));
            check(reference, &journey, expected);
        }
        let messages = [
            ("session.nights", "`session.nights` has the unknown scope `session`; use `local.`, `campaign.` or none"),
            ("local.a.b", "`a.b` is not a variable name: use letters, digits and `_`, and no digit first"),
            ("local.", "`local.` names no variable after its scope"),
            ("contact.name", "`contact.name` is a system variable, which journeys cannot write"),
        ];
        for (reference, message) in messages {
            let journey = with(Text, text("Hi"), |c| c.variable = Some(reference.into()));
            assert_eq!(validate(&journey)[0].message, message);
        }
    }

    #[test]
    fn every_field_that_stores_a_value_is_checked() {
        let now = || Some("system.now".to_owned());
        #[rustfmt::skip]
        let cases = [
            (with(Text, text("Hi"), |c| c.variable = now()), "variable"),
            (with(Reply, choices(1), |c| c.variable = now()), "variable"),
            (with(QuickReply, choices(1), |c| c.variable = now()), "variable"),
            (with(List, list(1, 1), |c| c.variable = now()), "variable"),
            (with(Prompt, prompt(), |c| c.variable = now()), "variable"),
            (with(PromptDate, prompt_date(), |c| c.variable = now()), "variable"),
            (with(WaitForEvents, wait(), |c| c.variable = now()), "variable"),
            (with_request(|r| r.mapping = vec![mapping("system.now", "$.a")]), "request.mapping[0].variable"),
            (with(Api, api(), |c| c.post_process = Some(PostProcess { prompt: "Sum up".into(), variable: "now".into() })),
                "post_process.variable"),
        ];
        for (journey, field) in cases {
            check(
                field,
                &journey,
                &[&format!("system_variable_read_only {field}")],
            );
        }
    }

    #[test]
    fn declared_variables_have_valid_unique_non_system_names() {
        let (taken, read_only) = (
            "variable_name_taken variables[1].name",
            "system_variable_read_only",
        );
        #[rustfmt::skip]
        let cases: [(&[&str], &[&str]); 7] = [
            (&["nights", "season", "_x1"], &[]),
            (&["nights", "nights"], &[taken]),
            (&[" "], &["field_empty variables[0].name"]),
            (&["2nights"], &["invalid_variable_name variables[0].name"]),
            (&["local.nights"], &["invalid_variable_name variables[0].name"]),
            (&["contact_name"], &["system_variable_read_only variables[0].name"]),
            (&["now", "now"], &[&format!("{read_only} variables[0].name"), &format!("{read_only} variables[1].name"), taken]),
        ];
        for (names, expected) in cases {
            check(&format!("{names:?}"), &declaring(names), expected);
        }
        // A local and a campaign variable of one name would make `{{name}}` ambiguous.
        let journey = edited(declaring(&["season", "season"]), |journey| {
            journey.variables[1].scope = VariableScope::Campaign;
        });
        check("across scopes", &journey, &[taken]);
    }

    #[test]
    fn fields_are_named_in_messages_by_their_paths() {
        #[rustfmt::skip]
        let cases = [
            ("body", "the body"),
            ("button_text", "the button text"),
            ("header.url", "the header URL"),
            ("choices[2].title", "the title of choice 3"),
            ("sections[0].rows[3].description", "the description of row 4 of section 1"),
            ("branches[1].rules[0].variable", "the variable of rule 1 of branch 2"),
            ("parameters[0]", "parameter 1"),
            ("choices[1].synonyms[0]", "synonym 1 of choice 2"),
        ];
        for (field, name) in cases {
            assert_eq!(describe(field), name);
        }
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        #[rustfmt::skip]
        let cases = [(0, "0"), (999, "999"), (1_000, "1,000"), (4_096, "4,096"), (1_048_576, "1,048,576")];
        for (number, text) in cases {
            assert_eq!(grouped(number), text);
        }
    }

    #[test]
    fn choice_titles_are_unique_and_row_ids_fit_whatsapp() {
        let mut journey = Journey::greeting("Hi");
        journey.steps.push(
            serde_json::from_value(serde_json::json!({
                "id": "menu", "name": "Menu", "kind": "reply",
                "config": {"body": "Pick", "choices": [
                    {"id": "a", "title": "Yes"}, {"id": "b", "title": " yes "}
                ]}
            }))
            .expect("a reply step"),
        );
        journey.steps.push(
            serde_json::from_value(serde_json::json!({
                "id": "rooms", "name": "Rooms", "kind": "list",
                "config": {"body": "Pick", "button_text": "Rooms", "sections": [{"rows": [
                    {"id": "r".repeat(ROW_ID_MAX_CHARS), "title": "Fits"},
                    {"id": "s".repeat(ROW_ID_MAX_CHARS + 1), "title": "Too long an id"}
                ]}]}
            }))
            .expect("a list step"),
        );
        let found: Vec<(&str, Option<String>)> = validate(&journey)
            .into_iter()
            .map(|problem| (problem.code, problem.field))
            .collect();
        assert_eq!(
            found,
            [
                ("duplicate_choice_title", Some("choices[1].title".into())),
                ("field_too_long", Some("sections[0].rows[1].id".into())),
            ]
        );
    }
}
