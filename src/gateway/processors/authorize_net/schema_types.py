"""Authorize.Net's complex types, as facts read from its XSD (AnetApiSchema.xsd,
in the public AuthorizeNet/sdk-php repository), for the calls we make and serve.

Each type is its child elements in the XSD's order, written `name[:type][*][!]`:
the type is a complex type of this table or a scalar (`int`, `decimal`,
`boolean`, `dateTime`, `date`; none written means a string: the XSD's string
restrictions, enumerations and `numericString` are all text here), `*` when
the element repeats (maxOccurs > 1), `!` when it is required (minOccurs ≥ 1).
A type extending another lists the base's elements first, as the XSD does. An
`xs:choice` is written as its members in order, all optional (one of them is
meant). Anonymous types are named `parentType/element`. `any` marks content
we accept without checking (card-present and EMV data, which we never use).
"""

from __future__ import annotations

from typing import Final

_REQUEST: Final = "merchantAuthentication:merchantAuthenticationType! clientId refId"
_RESPONSE: Final = "refId messages:messagesType! sessionToken"
_LISTING: Final = "transactions:ArrayOfTransactionSummaryType totalNumInResultSet:int"
_NAME_AND_ADDRESS: Final = "firstName lastName company address city state zip country"
_ORDER: Final = (
    "invoiceNumber description discountAmount:decimal taxIsAfterDiscount:boolean"
    " totalTaxTypeCode purchaserVATRegistrationNumber merchantVATRegistrationNumber"
    " vatInvoiceReferenceNumber purchaserCode summaryCommodityCode purchaseOrderDateUTC:date"
    " supplierOrderReference authorizedContactName cardAcceptorRefNumber amexDataTAA1"
    " amexDataTAA2 amexDataTAA3 amexDataTAA4"
)

# The calls' root elements (an anonymous type each, extending ANetApiRequest or
# ANetApiResponse). ErrorResponse is what Authorize.Net answers a request it
# cannot read.
REQUESTS: Final[dict[str, str]] = {
    "authenticateTestRequest": _REQUEST,
    "createTransactionRequest": f"{_REQUEST} transactionRequest:transactionRequestType!",
    "getTransactionDetailsRequest": f"{_REQUEST} transId!",
    "getUnsettledTransactionListRequest": (
        f"{_REQUEST} status sorting:TransactionListSorting paging:Paging"
    ),
    "getSettledBatchListRequest": (
        f"{_REQUEST} includeStatistics:boolean firstSettlementDate:dateTime"
        " lastSettlementDate:dateTime"
    ),
    "getTransactionListRequest": f"{_REQUEST} batchId sorting:TransactionListSorting paging:Paging",
    "createCustomerProfileRequest": f"{_REQUEST} profile:customerProfileType! validationMode",
    "getCustomerProfileRequest": (
        f"{_REQUEST} customerProfileId merchantCustomerId email unmaskExpirationDate:boolean"
        " includeIssuerInfo:boolean"
    ),
    "deleteCustomerProfileRequest": f"{_REQUEST} customerProfileId!",
}

RESPONSES: Final[dict[str, str]] = {
    "ErrorResponse": _RESPONSE,
    "authenticateTestResponse": _RESPONSE,
    "createTransactionResponse": (
        f"{_RESPONSE} transactionResponse:transactionResponse!"
        " profileResponse:createProfileResponse"
    ),
    "getTransactionDetailsResponse": (
        f"{_RESPONSE} transaction:transactionDetailsType! clientId transrefId"
    ),
    "getUnsettledTransactionListResponse": f"{_RESPONSE} {_LISTING}",
    "getTransactionListResponse": f"{_RESPONSE} {_LISTING}",
    "getSettledBatchListResponse": f"{_RESPONSE} batchList:ArrayOfBatchDetailsType",
    "createCustomerProfileResponse": (
        f"{_RESPONSE} customerProfileId customerPaymentProfileIdList:ArrayOfNumericString!"
        " customerShippingAddressIdList:ArrayOfNumericString!"
        " validationDirectResponseList:ArrayOfString!"
    ),
    "getCustomerProfileResponse": (
        f"{_RESPONSE} profile:customerProfileMaskedType subscriptionIds:SubscriptionIdList"
    ),
    "deleteCustomerProfileResponse": _RESPONSE,
}

TYPES: Final[dict[str, str]] = {
    # -- request parts
    "merchantAuthenticationType": (
        "name transactionKey sessionToken password"
        " impersonationAuthentication:impersonationAuthenticationType fingerPrint:fingerPrintType"
        " clientKey accessToken mobileDeviceId"
    ),
    "impersonationAuthenticationType": "partnerLoginId! partnerTransactionKey!",
    "fingerPrintType": "hashValue! sequence timestamp! currencyCode amount",
    "transactionRequestType": (
        "transactionType! amount:decimal currencyCode payment:paymentType"
        " profile:customerProfilePaymentType solution:solutionType callId terminalNumber authCode"
        " refTransId splitTenderId order:orderType lineItems:ArrayOfLineItem"
        " tax:extendedAmountType duty:extendedAmountType shipping:extendedAmountType"
        " taxExempt:boolean poNumber customer:customerDataType billTo:customerAddressType"
        " shipTo:nameAndAddressType customerIP cardholderAuthentication:ccAuthenticationType"
        " retail:transRetailInfoType employeeId transactionSettings:ArrayOfSetting"
        " userFields:transactionRequestType/userFields surcharge:extendedAmountType"
        " merchantDescriptor subMerchant:subMerchantType tip:extendedAmountType"
        " processingOptions:processingOptions subsequentAuthInformation:subsequentAuthInformation"
        " otherTax:otherTaxType shipFrom:nameAndAddressType"
        " authorizationIndicatorType:authorizationIndicatorType"
    ),
    "paymentType": (
        "creditCard:creditCardType bankAccount:bankAccountType trackData:creditCardTrackType"
        " encryptedTrackData:any payPal:payPalType opaqueData:opaqueDataType emv:any dataSource"
    ),
    "creditCardType": (
        "cardNumber! expirationDate! cardCode isPaymentToken:boolean cryptogram"
        " tokenRequestorName tokenRequestorId tokenRequestorEci"
    ),
    "bankAccountType": (
        "accountType routingNumber! accountNumber! nameOnAccount! echeckType bankName checkNumber"
    ),
    "creditCardTrackType": "track1 track2",
    "payPalType": "successUrl cancelUrl paypalLc paypalHdrImg paypalPayflowcolor payerID",
    "opaqueDataType": "dataDescriptor! dataValue! dataKey expirationTimeStamp:dateTime",
    "customerProfilePaymentType": (
        "createProfile:boolean customerProfileId paymentProfile:paymentProfile shippingProfileId"
    ),
    "paymentProfile": "paymentProfileId! cardCode",
    "solutionType": "id! name vendorName",
    "orderType": _ORDER,
    "orderExType": f"{_ORDER} purchaseOrderNumber",
    "ArrayOfLineItem": "lineItem:lineItemType*",
    "lineItemType": (
        "itemId! name! description quantity:decimal! unitPrice:decimal! taxable:boolean"
        " unitOfMeasure typeOfSupply taxRate:decimal taxAmount:decimal nationalTax:decimal"
        " localTax:decimal vatRate:decimal alternateTaxId alternateTaxType alternateTaxTypeApplied"
        " alternateTaxRate:decimal alternateTaxAmount:decimal totalAmount:decimal commodityCode"
        " productCode productSKU discountRate:decimal discountAmount:decimal"
        " taxIncludedInTotal:boolean taxIsAfterDiscount:boolean"
    ),
    "extendedAmountType": "amount:decimal! name description",
    "customerDataType": "type id email driversLicense:driversLicenseType taxId",
    "driversLicenseType": "number! state! dateOfBirth!",
    "nameAndAddressType": _NAME_AND_ADDRESS,
    "customerAddressType": f"{_NAME_AND_ADDRESS} phoneNumber faxNumber email",
    "ccAuthenticationType": "authenticationIndicator! cardholderAuthenticationValue!",
    "transRetailInfoType": "marketType deviceType customerSignature terminalNumber",
    "ArrayOfSetting": "setting:settingType*",
    "settingType": "settingName settingValue",
    "transactionRequestType/userFields": "userField:userField*",
    "userField": "name value",
    "subMerchantType": (
        "identifier! doingBusinessAs paymentServiceProviderName paymentServiceFacilitator"
        " streetAddress phone email postalCode city regionCode countryCode"
    ),
    "processingOptions": (
        "isFirstRecurringPayment:boolean isFirstSubsequentAuth:boolean isSubsequentAuth:boolean"
        " isStoredCredentials:boolean"
    ),
    "subsequentAuthInformation": "originalNetworkTransId originalAuthAmount:decimal reason",
    "otherTaxType": (
        "nationalTaxAmount:decimal localTaxAmount:decimal alternateTaxAmount:decimal"
        " alternateTaxId vatTaxRate:decimal vatTaxAmount:decimal"
    ),
    "authorizationIndicatorType": "authorizationIndicator",
    "TransactionListSorting": "orderBy! orderDescending:boolean!",
    "Paging": "limit:int! offset:int!",
    "customerProfileType": (
        "merchantCustomerId description email paymentProfiles:customerPaymentProfileType*"
        " shipToList:customerAddressType* profileType"
    ),
    "customerPaymentProfileType": (
        "customerType billTo:customerAddressType payment:paymentType"
        " driversLicense:driversLicenseType taxId defaultPaymentProfile:boolean"
        " subsequentAuthInformation:subsequentAuthInformation excludeFromAccountUpdater:boolean"
    ),
    # -- response parts
    "messagesType": "resultCode! message:messagesType/message*!",
    "messagesType/message": "code! text!",
    "transactionResponse": (
        "responseCode rawResponseCode authCode avsResultCode cvvResultCode cavvResultCode transId"
        " refTransID transHash testRequest accountNumber entryMode accountType splitTenderId"
        " prePaidCard:transactionResponse/prePaidCard messages:transactionResponse/messages"
        " errors:transactionResponse/errors"
        " splitTenderPayments:transactionResponse/splitTenderPayments"
        " userFields:transactionRequestType/userFields shipTo:nameAndAddressType"
        " secureAcceptance:transactionResponse/secureAcceptance emvResponse:any transHashSha2"
        " profile:customerProfileIdType networkTransId"
    ),
    "transactionResponse/prePaidCard": "requestedAmount approvedAmount balanceOnCard",
    "transactionResponse/messages": "message:transactionResponse/messages/message*",
    "transactionResponse/messages/message": "code description",
    "transactionResponse/errors": "error:transactionResponse/errors/error*",
    "transactionResponse/errors/error": "errorCode errorText",
    "transactionResponse/splitTenderPayments": (
        "splitTenderPayment:transactionResponse/splitTenderPayments/splitTenderPayment*"
    ),
    "transactionResponse/splitTenderPayments/splitTenderPayment": (
        "transId responseCode responseToCustomer authCode accountNumber accountType"
        " requestedAmount approvedAmount balanceOnCard"
    ),
    "transactionResponse/secureAcceptance": "SecureAcceptanceUrl PayerID PayerEmail",
    "customerProfileIdType": "customerProfileId! customerPaymentProfileId customerAddressId",
    "createProfileResponse": (
        "messages:messagesType! customerProfileId customerPaymentProfileIdList:ArrayOfNumericString"
        " customerShippingAddressIdList:ArrayOfNumericString"
    ),
    "customerProfileMaskedType": (
        "merchantCustomerId description email customerProfileId"
        " paymentProfiles:customerPaymentProfileMaskedType* shipToList:customerAddressExType*"
        " profileType"
    ),
    "customerPaymentProfileMaskedType": (
        "customerType billTo:customerAddressType customerProfileId customerPaymentProfileId!"
        " defaultPaymentProfile:boolean payment:paymentMaskedType driversLicense:any taxId"
        " subscriptionIds:SubscriptionIdList originalNetworkTransId originalAuthAmount:decimal"
        " excludeFromAccountUpdater:boolean"
    ),
    "customerAddressExType": f"{_NAME_AND_ADDRESS} phoneNumber faxNumber email customerAddressId",
    "SubscriptionIdList": "subscriptionId*",
    "ArrayOfNumericString": "numericString*",
    "ArrayOfString": "string*",
    "transactionDetailsType": (
        "transId! refTransId splitTenderId submitTimeUTC:dateTime! submitTimeLocal:dateTime!"
        " transactionType! transactionStatus! responseCode:int! responseReasonCode:int!"
        " subscription:subscriptionPaymentType responseReasonDescription! authCode AVSResponse"
        " cardCodeResponse CAVVResponse FDSFilterAction FDSFilters:ArrayOfFDSFilter"
        " batch:batchDetailsType order:orderExType requestedAmount:decimal authAmount:decimal!"
        " settleAmount:decimal! tax:extendedAmountType shipping:extendedAmountType"
        " duty:extendedAmountType lineItems:ArrayOfLineItem prepaidBalanceRemaining:decimal"
        " taxExempt:boolean payment:paymentMaskedType! customer:customerDataType"
        " billTo:customerAddressType shipTo:nameAndAddressType recurringBilling:boolean customerIP"
        " product entryMode marketType mobileDeviceId customerSignature"
        " returnedItems:ArrayOfReturnedItem solution:solutionType"
        " emvDetails:transactionDetailsType/emvDetails profile:customerProfileIdType"
        " surcharge:extendedAmountType employeeId tip:extendedAmountType otherTax:otherTaxType"
        " shipFrom:nameAndAddressType networkTransId originalNetworkTransId"
        " originalAuthAmount:decimal authorizationIndicator"
    ),
    "transactionDetailsType/emvDetails": "tag:transactionDetailsType/emvDetails/tag*!",
    "transactionDetailsType/emvDetails/tag": "tagId! data!",
    "subscriptionPaymentType": "id:int! payNum:int!",
    "ArrayOfFDSFilter": "FDSFilter:FDSFilterType*",
    "FDSFilterType": "name! action!",
    "batchDetailsType": (
        "batchId! settlementTimeUTC:dateTime settlementTimeLocal:dateTime settlementState!"
        " paymentMethod marketType product statistics:ArrayOfBatchStatisticType"
    ),
    "ArrayOfBatchStatisticType": "statistic:batchStatisticType*",
    "batchStatisticType": (
        "accountType! chargeAmount:decimal! chargeCount:int! refundAmount:decimal!"
        " refundCount:int! voidCount:int! declineCount:int! errorCount:int!"
        " returnedItemAmount:decimal returnedItemCount:int chargebackAmount:decimal"
        " chargebackCount:int correctionNoticeCount:int chargeChargeBackAmount:decimal"
        " chargeChargeBackCount:int refundChargeBackAmount:decimal refundChargeBackCount:int"
        " chargeReturnedItemsAmount:decimal chargeReturnedItemsCount:int"
        " refundReturnedItemsAmount:decimal refundReturnedItemsCount:int"
    ),
    "paymentMaskedType": (
        "creditCard:creditCardMaskedType bankAccount:bankAccountMaskedType"
        " tokenInformation:tokenMaskedType"
    ),
    "creditCardMaskedType": (
        "cardNumber! expirationDate! cardType cardArt:cardArt issuerNumber isPaymentToken:boolean"
    ),
    "cardArt": "cardBrand cardImageHeight cardImageUrl cardImageWidth cardType",
    "bankAccountMaskedType": (
        "accountType routingNumber! accountNumber! nameOnAccount! echeckType bankName"
    ),
    "tokenMaskedType": "tokenSource tokenNumber! expirationDate! tokenRequestorId",
    "ArrayOfReturnedItem": "returnedItem:returnedItemType*",
    "returnedItemType": "id! dateUTC:dateTime! dateLocal:dateTime! code! description!",
    "ArrayOfTransactionSummaryType": "transaction:transactionSummaryType*",
    "transactionSummaryType": (
        "transId! submitTimeUTC:dateTime! submitTimeLocal:dateTime! transactionStatus!"
        " invoiceNumber firstName lastName accountType! accountNumber! settleAmount:decimal!"
        " marketType product mobileDeviceId subscription:subscriptionPaymentType"
        " hasReturnedItems:boolean fraudInformation:fraudInformationType"
        " profile:customerProfileIdType"
    ),
    "fraudInformationType": "fraudFilterList:ArrayOfFraudFilterType! fraudAction!",
    "ArrayOfFraudFilterType": "fraudFilter*!",
    "ArrayOfBatchDetailsType": "batch:batchDetailsType*",
}

# The wrappers Authorize.Net's JSON answers flatten to an array of their one
# repeated child: XML `<transactions><transaction/>...</transactions>` is JSON
# `"transactions": [...]`. Requests keep the wrapper object, as Authorize.Net's
# own JSON examples do (`"transactionSettings": {"setting": [...]}`).
ARRAYS: Final = frozenset(
    {
        "ArrayOfLineItem",
        "ArrayOfSetting",
        "transactionRequestType/userFields",
        "transactionResponse/messages",
        "transactionResponse/errors",
        "transactionResponse/splitTenderPayments",
        "ArrayOfNumericString",
        "ArrayOfString",
        "transactionDetailsType/emvDetails",
        "ArrayOfFDSFilter",
        "ArrayOfBatchStatisticType",
        "ArrayOfReturnedItem",
        "ArrayOfTransactionSummaryType",
        "ArrayOfFraudFilterType",
        "ArrayOfBatchDetailsType",
    }
)
