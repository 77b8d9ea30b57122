//! The journey's API definitions as an AI Agent's tools.
//!
//! A definition the step lists becomes a tool the model may call. Its parameters are the
//! definition's declared `parameters`, or, when it declares none, every local-variable
//! placeholder of its request (`{{check_in}}`, `{{local.check_in}}`): the model's argument
//! takes the place of the local variable of that name. Every other placeholder (system and
//! campaign variables, locals that are not parameters) is read from the session when the turn
//! starts, so the call is built without the session and cannot be steered by text the model
//! writes into a placeholder. A parameter the session already holds is optional: the session's
//! value is sent when the model gives none.

use super::interpreter::{ApiRequest, ApiResponse};
use super::model::{ApiDefinition, ApiRequestConfig, ParameterKind, ToolParameter};
use super::request;
use super::values::{self, VariableRef, SYSTEM_VARIABLES};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The tool an AI Agent calls to hand the guest to the team.
pub const HANDOFF_TOOL: &str = "transfer_to_human";
/// The tool an AI Agent calls when the guest needs nothing more.
pub const FINISH_TOOL: &str = "finish_conversation";
/// Longest tool name the providers take.
pub const TOOL_NAME_MAX: usize = 64;

/// The name the model calls a definition by: letters, digits, `_` and `-` kept, anything else
/// made `_`, at most [`TOOL_NAME_MAX`] characters (the providers' rule).
pub fn tool_name(definition: &str) -> String {
    let name: String = definition
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(TOOL_NAME_MAX)
        .collect();
    if name.is_empty() {
        "_".into()
    } else {
        name
    }
}

/// Whether `name` can name a tool parameter: like a variable name, `[A-Za-z_][A-Za-z0-9_]*`,
/// at most 64 characters, and not a system variable's.
pub fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= TOOL_NAME_MAX
        && !SYSTEM_VARIABLES.contains(&name)
}

/// An API definition as a tool of one AI Agent turn. `values` may hold secrets (a campaign
/// token in a header): the tool is never serialised, and only its name, description and
/// schema reach the model.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentTool {
    /// What the model calls it ([`tool_name`] of the definition's name).
    pub name: String,
    /// The API definition's name.
    pub definition: String,
    pub description: String,
    /// `required` is false for a parameter the session holds a value for.
    pub parameters: Vec<ToolParameter>,
    pub request: ApiRequestConfig,
    /// The session's text for the request's placeholders, by placeholder name.
    pub values: BTreeMap<String, String>,
}

impl AgentTool {
    /// The tool `definition` makes, reading the session's variables through `lookup`
    /// (a placeholder name to its text, `None` when unset).
    pub fn new(definition: &ApiDefinition, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let placeholders = request::placeholders(&definition.request);
        let mut parameters = definition.parameters.clone();
        if parameters.is_empty() {
            for placeholder in &placeholders {
                if let Some(name) = local_name(placeholder) {
                    if !parameters.iter().any(|parameter| parameter.name == name) {
                        parameters.push(ToolParameter {
                            name: name.to_owned(),
                            description: None,
                            kind: ParameterKind::String,
                            required: true,
                        });
                    }
                }
            }
        }
        let values: BTreeMap<String, String> = placeholders
            .iter()
            .filter_map(|placeholder| Some((placeholder.clone(), lookup(placeholder)?)))
            .collect();
        for parameter in &mut parameters {
            let held = values
                .keys()
                .any(|placeholder| local_name(placeholder) == Some(parameter.name.as_str()));
            parameter.required &= !held;
        }
        let description = match definition.description.as_deref().map(str::trim) {
            Some(description) if !description.is_empty() => description.to_owned(),
            _ => format!(
                "Calls the property's `{}` API and returns its HTTP status and JSON body.",
                definition.name
            ),
        };
        Self {
            name: tool_name(&definition.name),
            definition: definition.name.clone(),
            description,
            parameters,
            request: definition.request.clone(),
            values,
        }
    }

    /// The JSON Schema of the tool's arguments.
    pub fn schema(&self) -> Value {
        let properties: Map<String, Value> = self
            .parameters
            .iter()
            .map(|parameter| {
                let mut property = json!({"type": parameter.kind.as_str()});
                if let Some(description) = &parameter.description {
                    property["description"] = Value::String(description.clone());
                }
                (parameter.name.clone(), property)
            })
            .collect();
        let required: Vec<&str> = self
            .parameters
            .iter()
            .filter(|parameter| parameter.required)
            .map(|parameter| parameter.name.as_str())
            .collect();
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The HTTP request a call with `arguments` (a JSON object) makes, or why the arguments
    /// do not fit the parameters (for the model to correct).
    pub fn request(&self, arguments: &Value) -> Result<ApiRequest, String> {
        let empty = Map::new();
        let arguments = match arguments {
            Value::Object(fields) => fields,
            Value::Null => &empty,
            other => return Err(format!("the arguments must be a JSON object, not {other}")),
        };
        let mut given: BTreeMap<&str, String> = BTreeMap::new();
        for parameter in &self.parameters {
            match arguments.get(&parameter.name) {
                None | Some(Value::Null) if parameter.required => {
                    return Err(format!("`{}` is required", parameter.name));
                }
                None | Some(Value::Null) => {}
                Some(value) => {
                    let text = argument_text(parameter, value)?;
                    given.insert(parameter.name.as_str(), text);
                }
            }
        }
        let request = request::build(&self.request, &mut |placeholder, out| {
            let parameter = local_name(placeholder).filter(|name| {
                self.parameters
                    .iter()
                    .any(|parameter| parameter.name == *name)
            });
            if let Some(text) = parameter.and_then(|name| given.get(name)) {
                out.push_str(text);
                return true;
            }
            if let Some(text) = self.values.get(placeholder) {
                out.push_str(text);
                return true;
            }
            // An optional parameter neither the model nor the session gave is sent empty.
            parameter.is_some()
        });
        Ok(request)
    }

    /// What the definition's response mapping stores from a successful (2xx) response, as
    /// (variable, value); a path the response lacks stores `null`.
    pub fn mapped(&self, response: &ApiResponse) -> Vec<(String, Value)> {
        if !(200..300).contains(&response.status) {
            return Vec::new();
        }
        self.request
            .mapping
            .iter()
            .map(|mapping| {
                let value = values::json_path(&response.body, &mapping.path)
                    .cloned()
                    .unwrap_or(Value::Null);
                (mapping.variable.clone(), value)
            })
            .collect()
    }
}

/// The local variable a placeholder names, if it names one (`check_in`, `local.check_in`,
/// `var_local.check_in`; not a system variable's bare name).
fn local_name(placeholder: &str) -> Option<&str> {
    match VariableRef::parse(placeholder) {
        VariableRef::Local(name) => Some(name),
        VariableRef::Bare(name) if !SYSTEM_VARIABLES.contains(&name) => Some(name),
        _ => None,
    }
}

/// An argument as the text its placeholder takes, checked against the parameter's type.
fn argument_text(parameter: &ToolParameter, value: &Value) -> Result<String, String> {
    let name = &parameter.name;
    let text = values::to_text(value);
    let fits = match parameter.kind {
        ParameterKind::String => !value.is_object() && !value.is_array(),
        ParameterKind::Number => value.is_number() || text.trim().parse::<f64>().is_ok(),
        ParameterKind::Integer => {
            value.is_i64() || value.is_u64() || text.trim().parse::<i64>().is_ok()
        }
        ParameterKind::Boolean => value.is_boolean() || matches!(text.trim(), "true" | "false"),
    };
    if fits {
        Ok(text.trim().to_owned())
    } else {
        Err(format!(
            "`{name}` must be of type {}, not {value}",
            parameter.kind.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::model::{HttpMethod, ResponseMapping};

    fn definition(parameters: Vec<ToolParameter>) -> ApiDefinition {
        ApiDefinition {
            name: "Check availability".into(),
            description: None,
            parameters,
            request: ApiRequestConfig {
                method: HttpMethod::Get,
                url: "{{campaign.pms}}/availability?from={{check_in}}&to={{local.check_out}}&adults={{var_local.adults}}&ref={{ booking_ref }}".into(),
                headers: BTreeMap::from([("X-Guest".into(), "{{contact_name}}".into())]),
                body: None,
                mapping: vec![ResponseMapping {
                    path: "$.rooms[0].name".into(),
                    variable: "room".into(),
                }],
                timeout_secs: None,
            },
        }
    }

    fn session(placeholder: &str) -> Option<String> {
        match placeholder {
            "campaign.pms" => Some("https://pms.example".into()),
            "contact_name" => Some("Ana Lima".into()),
            "booking_ref" => Some("B-17".into()),
            _ => None,
        }
    }

    #[test]
    fn tool_names_keep_to_the_providers_alphabet() {
        assert_eq!(tool_name("Check availability"), "Check_availability");
        assert_eq!(tool_name(" rooms.v2/list "), "rooms_v2_list");
        assert_eq!(tool_name(&"x".repeat(80)).len(), TOOL_NAME_MAX);
        assert_eq!(tool_name("  "), "_");
        assert!(is_parameter_name("check_in"));
        assert!(!is_parameter_name("1st"));
        assert!(!is_parameter_name("check-in"));
        assert!(!is_parameter_name("today"));
    }

    #[test]
    fn undeclared_parameters_are_the_local_placeholders_the_session_lacks() {
        let tool = AgentTool::new(&definition(Vec::new()), session);
        assert_eq!(tool.name, "Check_availability");
        let schema = tool.schema();
        assert_eq!(
            schema["required"],
            json!(["check_in", "check_out", "adults"]),
            "booking_ref is held by the session"
        );
        assert_eq!(
            schema["properties"]["booking_ref"],
            json!({"type": "string"})
        );
        assert!(schema["properties"].get("contact_name").is_none());
        assert!(schema["properties"].get("campaign.pms").is_none());
    }

    #[test]
    fn a_call_fills_the_arguments_and_the_session_values() {
        let tool = AgentTool::new(&definition(Vec::new()), session);
        let request = tool
            .request(&json!({"check_in": "2027-03-15", "check_out": "2027-03-18", "adults": 2}))
            .unwrap();
        assert_eq!(
            request.url,
            "https://pms.example/availability?from=2027-03-15&to=2027-03-18&adults=2&ref=B-17"
        );
        assert_eq!(
            request.headers,
            [("X-Guest".to_owned(), "Ana Lima".to_owned())]
        );
        let request = tool
            .request(
                &json!({"check_in": "a&b", "check_out": "x", "adults": "2", "booking_ref": "B-99"}),
            )
            .unwrap();
        assert!(
            request.url.ends_with("from=a%26b&to=x&adults=2&ref=B-99"),
            "{}",
            request.url
        );
    }

    #[test]
    fn arguments_that_do_not_fit_are_refused_with_a_reason() {
        let declared = vec![
            ToolParameter {
                name: "check_in".into(),
                description: Some("Arrival, yyyy-mm-dd".into()),
                kind: ParameterKind::String,
                required: true,
            },
            ToolParameter {
                name: "check_out".into(),
                description: None,
                kind: ParameterKind::String,
                required: false,
            },
            ToolParameter {
                name: "adults".into(),
                description: None,
                kind: ParameterKind::Integer,
                required: true,
            },
        ];
        let tool = AgentTool::new(&definition(declared), session);
        assert_eq!(
            tool.schema()["properties"]["check_in"],
            json!({"type": "string", "description": "Arrival, yyyy-mm-dd"})
        );
        assert_eq!(tool.schema()["required"], json!(["check_in", "adults"]));
        let error = tool.request(&json!({"adults": 2})).unwrap_err();
        assert_eq!(error, "`check_in` is required");
        let error = tool
            .request(&json!({"check_in": "x", "adults": "two"}))
            .unwrap_err();
        assert_eq!(error, "`adults` must be of type integer, not \"two\"");
        let error = tool.request(&json!(["x"])).unwrap_err();
        assert!(error.contains("JSON object"), "{error}");
        // The optional parameter nobody gave is sent empty, not as a placeholder; the local
        // `booking_ref` is no parameter now, so the session's value is used.
        let request = tool
            .request(&json!({"check_in": "x", "adults": 3}))
            .unwrap();
        assert!(
            request.url.ends_with("from=x&to=&adults=3&ref=B-17"),
            "{}",
            request.url
        );
    }

    #[test]
    fn a_successful_response_is_mapped_into_variables() {
        let tool = AgentTool::new(&definition(Vec::new()), session);
        let ok = ApiResponse {
            status: 200,
            body: json!({"rooms": [{"name": "Sea view"}]}),
        };
        assert_eq!(tool.mapped(&ok), [("room".to_owned(), json!("Sea view"))]);
        let missing = ApiResponse {
            status: 200,
            body: json!({"rooms": []}),
        };
        assert_eq!(tool.mapped(&missing), [("room".to_owned(), Value::Null)]);
        let failed = ApiResponse {
            status: 503,
            body: json!({"rooms": [{"name": "Sea view"}]}),
        };
        assert!(tool.mapped(&failed).is_empty());
    }
}
