//! The test server's prompts and resources, so the gateway federates more
//! than one server's: the prompt `greeting` (argument `name`, completed
//! from a fixed list), the resource `echo://about`, and the template
//! `echo://echo/{text}` whose resources read back their `text`.

use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams, GetPromptResult,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, Prompt, PromptArgument,
    PromptMessage, ReadResourceRequestParams, ReadResourceResult, Resource, ResourceContents,
    ResourceTemplate, Role,
};

pub const ABOUT_URI: &str = "echo://about";
pub const ECHO_TEMPLATE: &str = "echo://echo/{text}";
const NAMES: [&str; 3] = ["Ada", "Alan", "Grace"];

pub fn prompts() -> ListPromptsResult {
    ListPromptsResult::with_all_items(vec![Prompt::new(
        "greeting",
        Some("Greets someone by name."),
        Some(vec![
            PromptArgument::new("name")
                .with_description("Who to greet")
                .with_required(true),
        ]),
    )])
}

pub fn get_prompt(request: &GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
    if request.name != "greeting" {
        return Err(ErrorData::invalid_params(
            format!("unknown prompt {:?}", request.name),
            None,
        ));
    }
    let name = request
        .arguments
        .as_ref()
        .and_then(|a| a.get("name"))
        .and_then(|v| v.as_str())
        .ok_or_else(|| ErrorData::invalid_params("argument \"name\" is required", None))?;
    Ok(GetPromptResult::new(vec![PromptMessage::new_text(
        Role::User,
        format!("Say hello to {name}."),
    )])
    .with_description("A greeting"))
}

pub fn resources() -> ListResourcesResult {
    ListResourcesResult::with_all_items(vec![
        Resource::new(ABOUT_URI, "about")
            .with_description("What this server is")
            .with_mime_type("text/plain"),
    ])
}

pub fn resource_templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(ECHO_TEMPLATE, "echo")
            .with_description("Reads back its text")
            .with_mime_type("text/plain"),
    ])
}

pub fn read_resource(
    server: &str,
    request: &ReadResourceRequestParams,
) -> Result<ReadResourceResult, ErrorData> {
    let text = if request.uri == ABOUT_URI {
        format!("{server}: the gateway's Rust test server")
    } else if let Some(text) = request.uri.strip_prefix("echo://echo/") {
        text.to_owned()
    } else {
        return Err(ErrorData::resource_not_found(
            format!("no resource {:?}", request.uri),
            None,
        ));
    };
    Ok(ReadResourceResult::new(vec![ResourceContents::text(
        text,
        request.uri.clone(),
    )]))
}

pub fn complete(request: &CompleteRequestParams) -> CompleteResult {
    let values =
        if request.r#ref.as_prompt_name() == Some("greeting") && request.argument.name == "name" {
            NAMES
                .iter()
                .filter(|n| n.starts_with(request.argument.value.as_str()))
                .map(|n| (*n).to_owned())
                .collect()
        } else {
            Vec::new()
        };
    CompleteResult::new(CompletionInfo::new(values).unwrap_or_default())
}
