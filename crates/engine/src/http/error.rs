//! The one place where engine errors become AWS error responses: HTTP status, the
//! `x-amzn-ErrorType` header botocore and the AWS SDKs read the error code from, and a JSON body
//! with a `message` a person understands.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use thingbox_api::ErrorBody;
use thingbox_model::jobs::JobsError;
use thingbox_model::provisioning::ProvisioningError;
use thingbox_model::registry::RegistryError;
use thingbox_model::rules::RuleError;

use crate::Error;

/// An error on its way to an AWS client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

/// The AWS error types Thingbox answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorType {
    /// 400
    InvalidRequest,
    /// 404
    ResourceNotFound,
    /// 409
    ResourceAlreadyExists,
    /// 409
    VersionConflict,
    /// 404 (no such operation in this emulator)
    UnknownOperation,
    /// 406
    CertificateState,
    /// 400
    CertificateValidation,
    /// 400
    RegistrationCodeValidation,
    /// 409
    DeleteConflict,
    /// 410
    LimitExceeded,
    /// 413
    RequestEntityTooLarge,
    /// 400
    MalformedPolicy,
    /// 400
    SqlParse,
    /// 409
    VersionsLimitExceeded,
    /// 409 (iot-data)
    Conflict,
    /// 415 (iot-data)
    UnsupportedDocumentEncoding,
    /// 401
    Unauthorized,
    /// 403 (an unsigned `wss://…/mqtt`; a request for another host or from another web origin)
    Forbidden,
    /// 403 (an unsigned request when signatures are verified)
    MissingAuthenticationToken,
    /// 403 (an access key Thingbox does not know, when signatures are verified)
    UnrecognizedClient,
    /// 403 (a wrong or expired signature, when signatures are verified)
    InvalidSignature,
    /// 429
    Throttling,
    /// 409 (jobs)
    InvalidStateTransition,
    /// 410 (iot-jobs-data)
    TerminalState,
    /// 500
    InternalFailure,
}

impl AwsErrorType {
    /// The name in `x-amzn-ErrorType`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidRequest => "InvalidRequestException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::VersionConflict => "VersionConflictException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::CertificateState => "CertificateStateException",
            Self::CertificateValidation => "CertificateValidationException",
            Self::RegistrationCodeValidation => "RegistrationCodeValidationException",
            Self::DeleteConflict => "DeleteConflictException",
            Self::LimitExceeded => "LimitExceededException",
            Self::RequestEntityTooLarge => "RequestEntityTooLargeException",
            Self::MalformedPolicy => "MalformedPolicyException",
            Self::SqlParse => "SqlParseException",
            Self::VersionsLimitExceeded => "VersionsLimitExceededException",
            Self::Conflict => "ConflictException",
            Self::UnsupportedDocumentEncoding => "UnsupportedDocumentEncodingException",
            Self::Unauthorized => "UnauthorizedException",
            Self::Forbidden => "ForbiddenException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
            Self::Throttling => "ThrottlingException",
            Self::InvalidStateTransition => "InvalidStateTransitionException",
            Self::TerminalState => "TerminalStateException",
            Self::InternalFailure => "InternalFailureException",
        }
    }

    /// The HTTP status botocore's model gives the type.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::CertificateValidation
            | Self::RegistrationCodeValidation
            | Self::MalformedPolicy
            | Self::SqlParse => StatusCode::BAD_REQUEST,
            Self::ResourceNotFound | Self::UnknownOperation => StatusCode::NOT_FOUND,
            Self::CertificateState => StatusCode::NOT_ACCEPTABLE,
            Self::ResourceAlreadyExists
            | Self::VersionConflict
            | Self::DeleteConflict
            | Self::VersionsLimitExceeded => StatusCode::CONFLICT,
            Self::LimitExceeded | Self::TerminalState => StatusCode::GONE,
            Self::InvalidStateTransition => StatusCode::CONFLICT,
            Self::Conflict => StatusCode::CONFLICT,
            Self::UnsupportedDocumentEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::MissingAuthenticationToken
            | Self::UnrecognizedClient
            | Self::InvalidSignature => StatusCode::FORBIDDEN,
            Self::Throttling => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Builds an AWS error response.
pub fn aws_error(kind: AwsErrorType, body: ErrorBody) -> Response {
    let mut res = (kind.status(), Json(body)).into_response();
    res.headers_mut().insert("x-amzn-ErrorType", HeaderValue::from_static(kind.name()));
    res
}

fn sim_error(e: crate::sim::SimError) -> (AwsErrorType, ErrorBody) {
    use crate::sim::SimError;
    let kind = match &e {
        SimError::Invalid(_) | SimError::Request(_) | SimError::Unavailable(_) => {
            AwsErrorType::InvalidRequest
        }
        SimError::Running(_) => AwsErrorType::ResourceAlreadyExists,
        SimError::NotFound(_) => AwsErrorType::ResourceNotFound,
    };
    (kind, message(e.to_string()))
}

/// Builds an AWS error response with only a message.
pub fn aws_message(kind: AwsErrorType, message: impl Into<String>) -> Response {
    aws_error(kind, ErrorBody { message: message.into(), resource_id: None, resource_arn: None })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (kind, body) = match self.0 {
            Error::Registry(RegistryError::InvalidRequest(m)) | Error::InvalidRequest(m) => {
                (AwsErrorType::InvalidRequest, message(m))
            }
            Error::Registry(RegistryError::NotFound(m)) => (AwsErrorType::ResourceNotFound, message(m)),
            Error::NotFound(m) => (AwsErrorType::ResourceNotFound, message(m)),
            Error::TooLarge(m) => (AwsErrorType::RequestEntityTooLarge, message(m)),
            Error::Registry(RegistryError::VersionConflict(m)) => (AwsErrorType::VersionConflict, message(m)),
            Error::Registry(RegistryError::CertificateState(m)) => {
                (AwsErrorType::CertificateState, message(m))
            }
            Error::Registry(RegistryError::CertificateValidation(m)) => {
                (AwsErrorType::CertificateValidation, message(m))
            }
            Error::Registry(RegistryError::RegistrationCodeValidation(m)) => {
                (AwsErrorType::RegistrationCodeValidation, message(m))
            }
            Error::Registry(RegistryError::DeleteConflict(m)) => (AwsErrorType::DeleteConflict, message(m)),
            Error::Registry(RegistryError::LimitExceeded(m)) => (AwsErrorType::LimitExceeded, message(m)),
            Error::Registry(RegistryError::MalformedPolicy(m)) => (AwsErrorType::MalformedPolicy, message(m)),
            Error::Registry(RegistryError::VersionsLimitExceeded(m)) => {
                (AwsErrorType::VersionsLimitExceeded, message(m))
            }
            Error::Registry(RegistryError::AlreadyExists { message, arn, id }) => (
                AwsErrorType::ResourceAlreadyExists,
                ErrorBody { message, resource_id: Some(id), resource_arn: Some(arn) },
            ),
            Error::Shadow(e) => {
                let kind = match e.code {
                    400 => AwsErrorType::InvalidRequest,
                    401 | 403 => AwsErrorType::Unauthorized,
                    404 => AwsErrorType::ResourceNotFound,
                    409 => AwsErrorType::Conflict,
                    413 => AwsErrorType::RequestEntityTooLarge,
                    415 => AwsErrorType::UnsupportedDocumentEncoding,
                    429 => AwsErrorType::Throttling,
                    _ => AwsErrorType::InternalFailure,
                };
                (kind, message(e.message))
            }
            Error::Rule(RuleError::SqlParse(m)) => (AwsErrorType::SqlParse, message(m)),
            Error::Rule(RuleError::InvalidRequest(m)) => (AwsErrorType::InvalidRequest, message(m)),
            // AWS answers a rule that does not exist with UnauthorizedException.
            Error::Rule(RuleError::NotFound(m)) => (AwsErrorType::Unauthorized, message(m)),
            Error::Rule(RuleError::AlreadyExists { message, arn }) => (
                AwsErrorType::ResourceAlreadyExists,
                ErrorBody { message, resource_id: None, resource_arn: Some(arn) },
            ),
            Error::Jobs(e) => jobs_error(e, false),
            Error::Provisioning(e) => provisioning_error(e),
            Error::Sim(e) => sim_error(e),
            Error::JobsData(e) => jobs_error(e, true),
            Error::Storage(e) => {
                tracing::error!(error = %e, "storage failure while serving a request");
                let m = e.refusal();
                (AwsErrorType::InternalFailure, message(m))
            }
        };
        aws_error(kind, body)
    }
}

/// A jobs refusal as the control plane (`iot`) or the data plane (`iot-jobs-data`) answers it.
fn jobs_error(e: JobsError, data_plane: bool) -> (AwsErrorType, ErrorBody) {
    let text = e.to_string();
    let kind = match e {
        JobsError::InvalidRequest(_) => AwsErrorType::InvalidRequest,
        JobsError::NotFound(_) => AwsErrorType::ResourceNotFound,
        JobsError::AlreadyExists { message, id, arn } => {
            return (
                AwsErrorType::ResourceAlreadyExists,
                ErrorBody { message, resource_id: Some(id), resource_arn: Some(arn) },
            );
        }
        JobsError::InvalidStateTransition { .. } => AwsErrorType::InvalidStateTransition,
        JobsError::VersionConflict { .. } if data_plane => AwsErrorType::Conflict,
        JobsError::VersionConflict { .. } => AwsErrorType::VersionConflict,
        JobsError::TerminalState(_) if data_plane => AwsErrorType::TerminalState,
        JobsError::TerminalState(_) => AwsErrorType::InvalidStateTransition,
        JobsError::LimitExceeded(_) => AwsErrorType::LimitExceeded,
    };
    (kind, message(text))
}

/// A provisioning template refusal.
fn provisioning_error(e: ProvisioningError) -> (AwsErrorType, ErrorBody) {
    match e {
        ProvisioningError::InvalidRequest(m) => (AwsErrorType::InvalidRequest, message(m)),
        ProvisioningError::NotFound(m) => (AwsErrorType::ResourceNotFound, message(m)),
        ProvisioningError::AlreadyExists { message, arn, id } => (
            AwsErrorType::ResourceAlreadyExists,
            ErrorBody { message, resource_id: Some(id), resource_arn: Some(arn) },
        ),
        ProvisioningError::VersionsLimitExceeded(m) => (AwsErrorType::VersionsLimitExceeded, message(m)),
        ProvisioningError::DeleteConflict(m) => (AwsErrorType::DeleteConflict, message(m)),
    }
}

fn message(m: String) -> ErrorBody {
    ErrorBody { message: m, resource_id: None, resource_arn: None }
}
