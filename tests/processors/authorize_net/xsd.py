"""Element orders read from Authorize.Net's XSD (AnetApiSchema.xsd, in the public
AuthorizeNet/sdk-php repository), for the types our requests use. Written down
by hand from the schema, so a test can tell whether a struct's fields follow it."""

from __future__ import annotations

from typing import Final

API_REQUEST: Final = ("merchantAuthentication", "clientId", "refId")

ORDER: Final[dict[str, tuple[str, ...]]] = {
    "merchantAuthenticationType": (
        "name", "transactionKey", "sessionToken", "password", "impersonationAuthentication",
        "fingerPrint", "clientKey", "accessToken", "mobileDeviceId",
    ),
    "authenticateTestRequest": API_REQUEST,
    "createTransactionRequest": (*API_REQUEST, "transactionRequest"),
    "getTransactionDetailsRequest": (*API_REQUEST, "transId"),
    "getUnsettledTransactionListRequest": (*API_REQUEST, "status", "sorting", "paging"),
    "getSettledBatchListRequest": (
        *API_REQUEST, "includeStatistics", "firstSettlementDate", "lastSettlementDate",
    ),
    "getTransactionListRequest": (*API_REQUEST, "batchId", "sorting", "paging"),
    "createCustomerProfileRequest": (*API_REQUEST, "profile", "validationMode"),
    "getCustomerProfileRequest": (
        *API_REQUEST, "customerProfileId", "merchantCustomerId", "email", "unmaskExpirationDate",
        "includeIssuerInfo",
    ),
    "deleteCustomerProfileRequest": (*API_REQUEST, "customerProfileId"),
    "transactionRequestType": (
        "transactionType", "amount", "currencyCode", "payment", "profile", "solution",
        "callId", "terminalNumber", "authCode", "refTransId", "splitTenderId", "order",
        "lineItems", "tax", "duty", "shipping", "taxExempt", "poNumber", "customer", "billTo",
        "shipTo", "customerIP", "cardholderAuthentication", "retail", "employeeId",
        "transactionSettings", "userFields", "surcharge", "merchantDescriptor", "subMerchant",
        "tip", "processingOptions", "subsequentAuthInformation", "otherTax", "shipFrom",
        "authorizationIndicatorType",
    ),
    "paymentType": (
        "creditCard", "bankAccount", "trackData", "encryptedTrackData", "payPal", "opaqueData",
        "emv", "dataSource",
    ),
    "creditCardType": (
        "cardNumber", "expirationDate", "cardCode", "isPaymentToken", "cryptogram",
        "tokenRequestorName", "tokenRequestorId", "tokenRequestorEci",
    ),
    "customerProfilePaymentType": (
        "createProfile", "customerProfileId", "paymentProfile", "shippingProfileId",
    ),
    "paymentProfile": ("paymentProfileId", "cardCode"),
    "orderType": ("invoiceNumber", "description", "discountAmount", "taxIsAfterDiscount"),
    "customerDataType": ("type", "id", "email", "driversLicense", "taxId"),
    "customerAddressType": (
        "firstName", "lastName", "company", "address", "city", "state", "zip", "country",
        "phoneNumber", "faxNumber", "email",
    ),
    "ArrayOfSetting": ("setting",),
    "settingType": ("settingName", "settingValue"),
    "TransactionListSorting": ("orderBy", "orderDescending"),
    "Paging": ("limit", "offset"),
    "customerProfileType": (
        "merchantCustomerId", "description", "email", "paymentProfiles", "shipToList",
        "profileType",
    ),
    "customerPaymentProfileType": (
        "customerType", "billTo", "payment", "driversLicense", "taxId", "defaultPaymentProfile",
        "subsequentAuthInformation", "excludeFromAccountUpdater",
    ),
}  # fmt: skip

# Which XSD type each element we send has, to walk a request body.
TYPE_OF: Final[dict[str, str]] = {
    "merchantAuthentication": "merchantAuthenticationType",
    "transactionRequest": "transactionRequestType",
    "payment": "paymentType",
    "creditCard": "creditCardType",
    "order": "orderType",
    "customer": "customerDataType",
    "billTo": "customerAddressType",
    "transactionSettings": "ArrayOfSetting",
    "setting": "settingType",
    "sorting": "TransactionListSorting",
    "paging": "Paging",
    "paymentProfile": "paymentProfile",
    "paymentProfiles": "customerPaymentProfileType",
}
# `profile` is customerProfilePaymentType in a transaction, customerProfileType in CIM.
PROFILE_TYPE_BY_PARENT: Final = {
    "transactionRequestType": "customerProfilePaymentType",
    "createCustomerProfileRequest": "customerProfileType",
}
